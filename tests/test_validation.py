"""Validation mode: baseline, reference, rungs and cheats of a task as test items (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_autolab.validation import ValidationError, load_validation

from .conftest import MakeTask, read_summary

#: The toy task's verifier: value.txt holds an integer, the metric; "cheat" is refused.
VERIFIER = """
def test_value_is_an_integer(submission):
    out = submission.exec("cat value.txt")
    assert out.ok, out.output
    assert out.stdout.strip().isdigit(), f"value.txt holds {out.stdout!r}, not an integer"


def test_value(submission, record_metric):
    record_metric(int(submission.read_file("value.txt")))
"""


def add_variants(task: Path, rungs: dict[str, str], cheats: dict[str, str], toml: str | None = None) -> None:
    for kind, variants in (("rungs", rungs), ("cheats", cheats)):
        for name, value in variants.items():
            folder = task / "validation" / kind / name
            folder.mkdir(parents=True)
            (folder / "value.txt").write_text(value)
    if toml is None:
        toml = f"rungs = {list(rungs)!r}\n".replace("'", '"')
        toml += "[reasons]\n" + "".join(f'{name} = "the {name} variant"\n' for name in [*rungs, *cheats])
    (task / "validation" / "validation.toml").write_text(toml)


def validation_rows(root: Path) -> dict[str, dict]:
    return {row["variant"]: row for row in read_summary(root)["validation"]}


def test_a_valid_task_validates_with_a_table(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    task = make_task("toy", verifier=VERIFIER)
    add_variants(task, rungs={"half": "50\n", "most": "20\n"}, cheats={"words": "ten\n"})
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*= autolab validation =*",
            "task*variant*status*metric*n*reward*verdict*",
            "toy*baseline*scored*100*0.000*0.000*ok*",
            "toy*reference*scored*10*1.000*0.500*ok*",
            "toy*rung[[]half[]]*scored*50*0.301*0.151*ok*the half variant",
            "toy*rung[[]most[]]*scored*20*0.699*0.349*ok*",
            "toy*cheat[[]words[]]*incorrect*-*0.000*ok*the words variant",
            "5 of 5 variant(s) as expected over 1 task(s)",
        ]
    )
    rows = validation_rows(pytester.path)
    assert rows["cheat[words]"]["status"] == "incorrect"
    assert rows["rung[half]"]["n"] == pytest.approx(0.30103, abs=1e-4)


def test_the_verifier_runs_with_the_hidden_seed(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    verifier = (
        VERIFIER
        + """

def test_seed_is_not_public(submission):
    assert submission.hidden
    assert submission.seed != submission.task.public_seed
"""
    )
    make_task("toy", verifier=verifier)
    pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local").assert_outcomes(passed=3)


def test_each_broken_expectation_fails_naming_task_variant_and_fix(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    # baseline above 0: the anchor says 200, the shipped file measures 100
    make_task("base", verifier=VERIFIER, **{"optimization.baseline.score": 200})
    # reference off its anchor: task.toml says 10, solution/ measures 30
    make_task("ref", verifier=VERIFIER, solution={"value.txt": "30\n"})
    # a rung above the reference, a rung out of order, and a cheat that scores
    task = make_task("ladder", verifier=VERIFIER)
    add_variants(task, rungs={"close": "20\n", "far": "50\n", "beyond": "5\n"}, cheats={"scores": "40\n"})
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local", "-p", "no:randomly")
    assert result.ret == 1
    result.stdout.fnmatch_lines_random(
        [
            "*base: baseline (*)*",
            "*the untouched baseline scored reward 0.*it must be 0: the anchor is off: put `score = 100` under [[]optimization.baseline[]]*",
            "*ref: reference (*)*",
            "*the reference scored n 0.5229, outside 1 ± 0.05*put `score = 30` under [[]optimization.reference[]]*",
            "ladder: rung[[]far[]] (ladder/validation/rungs/far):",
            "*rungs out of order: far scored n 0.3010, not above close's 0.6990*",
            "ladder: rung[[]beyond[]] (ladder/validation/rungs/beyond):",
            "*a rung must score strictly between*n 1.3010*",
            "ladder: cheat[[]scores[]] (ladder/validation/cheats/scores):",
            "*the cheat was not caught: status scored, reward 0.199*tighten the verifier*",
        ]
    )
    rows = {(r["task"], r["variant"]): r for r in read_summary(pytester.path)["validation"]}
    assert rows[("ladder", "rung[close]")]["verdict"] == "ok"
    failed = {key for key, row in rows.items() if row["verdict"] == "FAIL"}
    assert failed == {
        ("base", "baseline"),
        ("ref", "reference"),
        ("ladder", "rung[far]"),
        ("ladder", "rung[beyond]"),
        ("ladder", "cheat[scores]"),
    }


def test_a_harness_error_on_a_cheat_is_not_a_catch(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    verifier = """
import os
def test_value(submission, record_metric):
    if submission.read_file("value.txt").strip() == b"boom":
        os._exit(3)  # the verifier itself dies: no verdict at all
    record_metric(int(submission.read_file("value.txt")))
"""
    task = make_task("toy", verifier=verifier)
    add_variants(task, rungs={}, cheats={"kills_verifier": "boom\n"})
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local")
    result.stdout.fnmatch_lines(["*cheat[[]kills_verifier[]]*the harness could not verify the cheat*"])
    assert result.ret == 1


def test_validation_runs_under_xdist_with_valid_xunit2(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    from .xunit2 import xunit2_errors

    for name in ("one", "two"):
        task = make_task(name, verifier=VERIFIER)
        add_variants(task, rungs={"half": "50\n"}, cheats={"words": "ten\n"})
    xml = pytester.path / "junit.xml"
    result = pytester.runpytest(
        "tasks", "--autolab-validate", "--autolab-sandbox=local", "-n", "2",
        f"--junitxml={xml}", "-o", "junit_family=xunit2",
    )  # fmt: skip
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["8 of 8 variant(s) as expected over 2 task(s)"])
    assert len(read_summary(pytester.path)["validation"]) == 8
    assert xunit2_errors(xml) == []


def test_repeat_requires_a_counted_metric_to_repeat_exactly(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    # The verifier counts its own runs: the metric differs on each verification.
    counter = pytester.path / "counter"
    verifier = f"""
import os
def test_value(submission, record_metric):
    path = {str(counter / "n")!r}
    with open(path, "a") as f:
        f.write("x")
    record_metric(int(submission.read_file("value.txt")) + os.path.getsize(path) - 1)
"""
    make_task("toy", verifier=verifier)
    counter.mkdir()
    result = pytester.runpytest(
        "tasks",
        "--autolab-validate",
        "--autolab-validate-repeat=3",
        "--autolab-sandbox=local",
        "-k",
        "reference",
    )
    result.stdout.fnmatch_lines(
        ["*a counted metric must repeat exactly, but 3 verifications gave [[]10.0, 11.0, 12.0[]]*"]
    )
    assert result.ret == 1


def test_validation_toml_must_list_every_rung_once(tmp_path: Path) -> None:
    (tmp_path / "validation" / "rungs" / "a").mkdir(parents=True)
    (tmp_path / "validation" / "rungs" / "b").mkdir(parents=True)
    (tmp_path / "validation" / "validation.toml").write_text('rungs = ["a"]\n')
    with pytest.raises(
        ValidationError, match=r"must name every folder under validation/rungs/ once.*\['a', 'b'\]"
    ):
        load_validation(tmp_path)
    (tmp_path / "validation" / "validation.toml").write_text(
        'rungs = ["a", "b"]\nreference_tolerance = 0.2\n'
    )
    with pytest.raises(ValidationError, match="say why in reference_tolerance_reason"):
        load_validation(tmp_path)
    (tmp_path / "validation" / "validation.toml").write_text('rungs = ["a", "b"]\n[reasons]\nc = "x"\n')
    with pytest.raises(ValidationError, match="no rung or cheat folder named c"):
        load_validation(tmp_path)
    (tmp_path / "validation" / "validation.toml").write_text('rungs = ["b", "a"]\ntypo = 1\n')
    with pytest.raises(ValidationError, match=r"\[typo\]: unknown key"):
        load_validation(tmp_path)


def test_a_broken_validation_folder_is_one_failing_item(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    task = make_task("toy", verifier=VERIFIER)
    add_variants(task, rungs={"half": "50\n"}, cheats={}, toml="rungs = []\n")
    (task / "validation" / "rungs" / "half" / "notes.md").write_text("x")
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*invalid validation folder:*must name every folder under validation/rungs/*"]
    )


def test_a_variant_with_a_file_that_is_not_editable_fails(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    task = make_task("toy", verifier=VERIFIER)
    add_variants(task, rungs={"half": "50\n"}, cheats={})
    (task / "validation" / "rungs" / "half" / "notes.md").write_text("x")
    result = pytester.runpytest("tasks", "--autolab-validate", "--autolab-sandbox=local")
    result.stdout.fnmatch_lines(["*holds files that are not editable (notes.md)*"])
    assert result.ret == 1
