"""The summary table and merging results of several runs (CI matrices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_autolab.report import format_comparison, format_table, load_results, load_runs, summarize
from pytest_autolab.results import TaskResult, atomic_write_json


def result(task: str, axis: str, reward: float, **extra: object) -> TaskResult:
    return TaskResult(task=task, axis=axis, status="scored", agent="x", reward=reward, **extra)  # type: ignore[arg-type]


def test_means_overall_and_per_axis() -> None:
    rows = [result("a", "faster", 0.5), result("b", "faster", 0.25), result("c", "smaller", 1.0)]
    summary = summarize(rows)
    assert summary["mean_reward"] == pytest.approx(1.75 / 3)
    assert summary["mean_reward_by_axis"] == {"faster": 0.375, "smaller": 1.0}
    lines = format_table(rows)
    assert lines[0].split()[:3] == ["task", "axis", "status"]
    assert "mean reward: 0.583 over 3 task(s)" in lines
    assert "by axis: faster 0.375, smaller 1.000" in lines


def test_infinite_speedup_and_missing_metric_print_readably() -> None:
    rows = [
        result("a", "faster", 1.0, metric=0.0, baseline=10.0, reference=1.0, speedup=float("inf")),
        TaskResult(task="b", axis="faster", status="agent_error", agent="x", reason="boom\ntrace"),
    ]
    text = "\n".join(format_table(rows))
    assert "infx" in text
    assert "b: agent_error: boom" in text


def test_results_of_several_runs_merge_and_a_duplicate_task_is_an_error(tmp_path: Path) -> None:
    for run, task, reward in [("r1", "a", 0.5), ("r2", "b", 1.0)]:
        atomic_write_json(tmp_path / run / task / "result.json", result(task, "faster", reward).to_json())
    merged = load_results(
        [tmp_path / "r1", tmp_path / "r2", tmp_path / "r1"]
    )  # a folder given twice counts once
    assert [(r.task, r.reward) for r in merged] == [("a", 0.5), ("b", 1.0)]
    atomic_write_json(tmp_path / "r3" / "a" / "result.json", result("a", "faster", 0.75).to_json())
    with pytest.raises(ValueError, match=r"task a of agent x appears twice: in .*r1.* and in .*r3"):
        load_results([tmp_path / "r1", tmp_path / "r3"])
    with pytest.raises(FileNotFoundError, match=r"no result\.json found"):
        load_results([tmp_path / "empty"])


def write_run(folder: Path, agent: str, rewards: dict[str, float], *, model: str | None = None,
              not_run: tuple[str, ...] = (), status: str = "scored") -> Path:  # fmt: skip
    options = {"model": model} if model else {}
    atomic_write_json(
        folder / "run.json", {"run_id": folder.name, "settings": {"agent": agent, "agent_options": options}}
    )
    for task, reward in rewards.items():
        row = TaskResult(
            task=task, axis="faster" if task < "m" else "smaller", status=status, agent=agent, reward=reward
        )
        atomic_write_json(folder / task / "result.json", row.to_json())
    atomic_write_json(folder / "summary.json", {"not_run": list(not_run)})
    return folder


def test_runs_of_different_agents_and_models_are_grouped_never_averaged(tmp_path: Path) -> None:
    write_run(tmp_path / "j1", "llm", {"a": 0.5}, model="m1")
    write_run(tmp_path / "j2", "llm", {"z": 1.0}, model="m1")
    write_run(tmp_path / "j3", "llm", {"a": 0.25, "z": 0.0}, model="m2")
    write_run(tmp_path / "j4", "oracle", {"a": 0.5})
    groups, notes = load_runs([tmp_path / "j1", tmp_path / "j2", tmp_path / "j3", tmp_path / "j4"])
    assert [(g.label, [r.reward for r in g.results]) for g in groups] == [
        ("llm (m1)", [0.5, 1.0]), ("llm (m2)", [0.25, 0.0]), ("oracle", [0.5])
    ]  # fmt: skip
    assert notes[0].startswith("merged 2 task result(s) of llm (m1) from 2 run(s): ")
    table = format_comparison(groups)
    assert table[0].split() == ["agent", "a", "z", "mean", "mean", "faster", "mean", "smaller"]
    assert table[2].split() == ["llm", "(m1)", "0.500", "1.000", "0.750", "0.500", "1.000"]
    assert table[4].split() == ["oracle", "0.500", "-", "0.500", "0.500", "-"]
    assert table[-1] == "missing (not counted in that agent's mean): oracle: no result for z"
    with pytest.raises(ValueError, match=r"several agents or models: llm \(m1\), llm \(m2\), oracle"):
        load_results([tmp_path / "j1", tmp_path / "j3", tmp_path / "j4"])


def test_markdown_for_a_step_summary_and_the_check_for_harness_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_autolab.cli import main

    good = write_run(tmp_path / "good", "oracle", {"a": 0.5, "b": 1.0})
    wrong = write_run(tmp_path / "wrong", "llm", {"a": 0.0}, status="incorrect")
    broken = write_run(tmp_path / "broken", "codex", {"a": 0.0}, status="error", not_run=("b",))
    md = tmp_path / "summary.md"
    assert main(["report", str(good), str(wrong), "--markdown", str(md), "--check"]) == 0
    text = md.read_text()
    assert "## autolab: comparison (reward)" in text
    assert "| llm | 0.000 | - | **0.000** |" in text
    assert "| a | faster | scored | - value |" not in text  # the metric name is the result's
    assert "**mean reward 0.750** over 2 task(s); by axis: faster 0.750" in text
    assert "| a | faster | **incorrect** |" in text
    assert "<summary>what was merged</summary>" in text
    capsys.readouterr()
    assert main(["report", str(broken), "--check", "--markdown", "-"]) == 1
    captured = capsys.readouterr()
    assert "**harness failures (2)**: a: error; b: not run (the session stopped before it)" in captured.out
    assert "autolab report: harness failure: codex: a: error" in captured.err


def test_the_task_list_is_a_ci_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_autolab.cli import main

    from .conftest import write_task

    write_task(
        tmp_path,
        "toy",
        environment={"value.txt": "100\n", "main.rs": "fn main() {}\n"},
        **{"autolab.editable": ["value.txt", "main.rs"]},  # type: ignore[arg-type]
    )
    write_task(tmp_path, "other", environment={"value.txt": "100\n"})
    assert main(["list", "--json", str(tmp_path / "tasks")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["other", "toy"]
    toy = rows[1]
    assert (toy["axis"], toy["metric"], toy["time_budget_s"], toy["max_evaluations"]) == (
        "smaller",
        "value",
        60.0,
        5,
    )
    assert toy["languages"] == ["rust"]
    assert rows[0]["languages"] == ["other"]
    assert main(["list", str(tmp_path / "tasks" / "toy")]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "toy",
        "smaller",
        "value",
        "(lower)",
        "60s",
        "5",
        "rust",
    ]
    assert main(["list", str(tmp_path / "nowhere")]) == 2
    assert "not a task folder nor a folder of tasks" in capsys.readouterr().err


def test_the_report_command_merges_run_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_autolab.cli import main

    atomic_write_json(tmp_path / "job1" / "a" / "result.json", result("a", "faster", 0.5).to_json())
    atomic_write_json(tmp_path / "job2" / "b" / "result.json", result("b", "smaller", 1.0).to_json())
    out_json = tmp_path / "summary.json"
    assert main(["report", str(tmp_path / "job1"), str(tmp_path / "job2"), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "mean reward: 0.750 over 2 task(s)" in printed
    assert json.loads(out_json.read_text())["mean_reward_by_axis"] == {"faster": 0.5, "smaller": 1.0}
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert "no result.json found" in capsys.readouterr().err
