"""The summary table and merging results of several runs (CI matrices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_autolab.report import format_table, load_results, summarize
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


def test_results_of_several_runs_merge(tmp_path: Path) -> None:
    for run, task, reward in [("r1", "a", 0.5), ("r2", "b", 1.0), ("r2", "a", 0.75)]:
        atomic_write_json(tmp_path / run / task / "result.json", result(task, "faster", reward).to_json())
    merged = load_results([tmp_path / "r1", tmp_path / "r2"])
    assert [(r.task, r.reward) for r in merged] == [("a", 0.75), ("b", 1.0)]
    with pytest.raises(FileNotFoundError, match=r"no result\.json found"):
        load_results([tmp_path / "empty"])


def test_the_report_command_merges_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
