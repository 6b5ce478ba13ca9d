"""task.toml loading: valid folders load, invalid ones name the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_autolab.tasks import TaskFileError, load_task

from .conftest import REPO, MakeTask


def test_a_valid_toy_task_loads(make_task: MakeTask) -> None:
    task = load_task(make_task())
    assert (task.name, task.axis, task.scale, task.direction) == ("toy", "smaller", "log", "lower")
    assert (task.baseline, task.reference, task.ref_reward) == (100, 10, 0.5)
    assert task.editable == ("value.txt",)
    assert task.verifier_path.name == "test_toy.py"
    assert [rel for rel, _ in task.environment_files()] == ["value.txt"]


@pytest.mark.parametrize("name", ["discover_sorting", "flash_attention"])
def test_the_pilot_tasks_load(name: str) -> None:
    folder = REPO / "tasks" / name
    if not (folder / "task.toml").exists():
        pytest.skip(f"{name} is not in this checkout")
    task = load_task(folder)
    assert task.name == name
    assert task.reference < task.baseline


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"optimization.baseline.score": None}, "optimization.baseline.score", "missing"),
        ({"optimization.reference.score": None}, "optimization.reference.score", "missing"),
        ({"autolab.axis": "sideways"}, "autolab.axis", "expected one of faster | smarter | smaller"),
        ({"autolab.scale": "cubic"}, "autolab.scale", "expected one of log | linear"),
        ({"autolab.editable": ["nope.c"]}, "autolab.editable", "'nope.c' does not exist"),
        ({"autolab.editable": ["../x"]}, "autolab.editable", "must be a path inside environment/"),
        ({"autolab.editable": []}, "autolab.editable", "non-empty list"),
        ({"optimization.direction": "up"}, "optimization.direction", "expected one of lower"),
        (
            {"optimization.reference.score": 200},
            "optimization.reference.score",
            "not better than the baseline",
        ),
        ({"optimization.reference.score": 100}, "optimization.reference.score", "equals the baseline"),
        ({"autolab.colour": "red"}, "autolab.colour", "unknown key"),
        ({"environment.memory_mb": "lots"}, "environment.memory_mb", "expected an integer"),
        ({"agent.timeout_sec": -5}, "agent.timeout_sec", "expected a positive number"),
        ({"environment.allow_internet": "no"}, "environment.allow_internet", "expected true or false"),
    ],
)
def test_invalid_task_toml_names_file_key_and_expectation(
    make_task: MakeTask, overrides: dict[str, object], key: str, message: str
) -> None:
    folder = make_task(**overrides)
    with pytest.raises(TaskFileError) as info:
        load_task(folder)
    text = str(info.value)
    assert str(folder / "task.toml") in text
    assert f"[{key}]" in text
    assert message in text
    assert info.value.key == key


def test_unparseable_toml_is_reported_with_the_file(make_task: MakeTask) -> None:
    folder = make_task(toml="[agent\ntimeout_sec = 1\n")
    with pytest.raises(TaskFileError, match=r"task\.toml: not valid TOML"):
        load_task(folder)


def test_missing_instruction_and_verifier_are_reported(make_task: MakeTask) -> None:
    folder = make_task()
    (folder / "instruction.md").unlink()
    with pytest.raises(TaskFileError, match=r"instruction\.md: missing"):
        load_task(folder)
    folder = make_task("other")
    (folder / "test_other.py").unlink()
    with pytest.raises(TaskFileError, match=r"no verifier module: expected test_other\.py"):
        load_task(folder)


def test_a_folder_without_task_toml_is_not_a_task(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="not found"):
        load_task(tmp_path)


def test_content_hash_changes_with_the_environment(make_task: MakeTask) -> None:
    folder = make_task()
    before = load_task(folder).content_hash()
    assert load_task(folder).content_hash() == before
    (folder / "environment" / "value.txt").write_text("99\n")
    assert load_task(folder).content_hash() != before


def test_pristine_module_imports_the_task_folders_environment_once(tmp_path: Path) -> None:
    from pytest_autolab import pristine_module

    task = tmp_path / "my_task"
    (task / "environment").mkdir(parents=True)
    (task / "environment" / "rules.py").write_text(
        "import dataclasses\n\n@dataclasses.dataclass\nclass Rule:\n    n: int = 3\n"
    )
    verifier = task / "test_my_task.py"
    first = pristine_module(verifier, "rules.py")
    assert first.Rule().n == 3
    (task / "environment" / "rules.py").write_text("raise SystemExit('imported twice')\n")
    assert pristine_module(str(verifier), "rules.py") is first
    with pytest.raises(FileNotFoundError):
        pristine_module(verifier, "missing.py")
