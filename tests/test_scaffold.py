"""`autolab new`: a task folder that validates as written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pytest_autolab.cli import main
from pytest_autolab.scaffold import LANGUAGES, ScaffoldError, write_scaffold
from pytest_autolab.tasks import load_task
from pytest_autolab.validation import load_validation, write_anchor

from .conftest import read_summary


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_writes_a_loadable_task_with_a_ladder(tmp_path: Path, language: str) -> None:
    folder = write_scaffold(tmp_path, "demo", language=language)
    task = load_task(folder)
    assert task.editable == (LANGUAGES[language].editable,)
    assert (folder / "solution" / task.editable[0]).is_file()
    config = load_validation(folder)
    assert config.rungs == ("blocks",)
    assert config.cheats == ("skips_work",)
    assert "$" not in (folder / "instruction.md").read_text()
    assert "$" not in (folder / "test_demo.py").read_text()


def test_go_and_bad_names_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="timed metric"):
        write_scaffold(tmp_path, "demo", language="go")
    with pytest.raises(ScaffoldError, match="not a usable task name"):
        write_scaffold(tmp_path, "my-task", language="c")
    write_scaffold(tmp_path, "demo", language="c")
    with pytest.raises(ScaffoldError, match="exists already"):
        write_scaffold(tmp_path, "demo", language="c")


def test_write_anchor_keeps_comments_and_other_tables() -> None:
    text = (
        '[optimization.baseline]\nscore = 1  # measured\nmethod = "x"\n\n'
        '[optimization.reference]\nmethod = "y"\n[autolab]\nscore = 3\n'
    )
    text = write_anchor(text, "baseline", 123456789.0)
    text = write_anchor(text, "reference", 2.5)
    data = tomllib.loads(text)
    assert data["optimization"]["baseline"]["score"] == 123456789
    assert data["optimization"]["reference"]["score"] == 2.5
    assert data["autolab"]["score"] == 3
    assert "score = 123456789  # measured" in text


@pytest.mark.slow
@pytest.mark.parametrize("language", ["c", "python"])
def test_autolab_new_output_validates_as_written(pytester: pytest.Pytester, language: str) -> None:
    assert (
        main(
            [
                "new",
                "demo",
                "--language",
                language,
                "--sandbox",
                "local",
                "--dir",
                str(pytester.path / "tasks"),
            ]
        )
        == 0
    )
    data = tomllib.loads((pytester.path / "tasks" / "demo" / "task.toml").read_text())
    assert data["optimization"]["baseline"]["score"] != 1000000000  # measured, not the placeholder
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local")
    result.assert_outcomes(passed=5)
    verdicts = {row["variant"]: row["verdict"] for row in read_summary(pytester.path)["validation"]}
    assert verdicts == {"baseline": "ok", "reference": "ok", "rung[blocks]": "ok", "cheat[skips_work]": "ok"}
