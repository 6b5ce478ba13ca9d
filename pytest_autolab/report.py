"""The terminal summary and summary.json: continuous rewards, not pass/fail."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .results import TaskResult, load_result
from .tasks import AXES

__all__ = ["format_table", "load_results", "summarize"]


def _num(value: float | str | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if math.isinf(value):
        return "inf"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{digits}f}"


def summarize(results: Iterable[TaskResult]) -> dict[str, Any]:
    """The summary.json document: every row of the table plus the means."""
    rows = sorted(results, key=lambda r: r.task)
    per_axis = {
        axis: statistics.fmean(r.reward for r in rows if r.axis == axis)
        for axis in AXES
        if any(r.axis == axis for r in rows)
    }
    return {
        "tasks": len(rows),
        "mean_reward": statistics.fmean(r.reward for r in rows) if rows else 0.0,
        "mean_reward_by_axis": per_axis,
        "results": [
            {
                "task": r.task,
                "axis": r.axis,
                "status": r.status,
                "metric_name": r.metric_name,
                "metric": r.metric,
                "baseline": r.baseline,
                "reference": r.reference,
                "speedup": r.speedup,
                "n": r.n,
                "reward": r.reward,
                "evaluations": r.evaluations,
                "agent_time_s": r.agent_time_s,
                "verify_time_s": r.verify_time_s,
                "agent": r.agent,
                "sandbox": r.sandbox,
                "resumed": r.resumed,
                "reason": r.reason,
                "loop": _loop_summary(r.loop),
            }
            for r in rows
        ],
    }


def _loop_summary(loop: dict[str, Any]) -> dict[str, Any]:
    """The loop statistics of a summary row: without the curve and the per-snapshot detail."""
    out = {k: v for k, v in loop.items() if k != "best_curve"}
    if isinstance(out.get("hidden"), dict):
        out["hidden"] = {k: v for k, v in out["hidden"].items() if k != "snapshots"}
    return out


def format_table(results: Sequence[TaskResult]) -> list[str]:
    """The table printed at the end of a run, one string per line."""
    header = ["task", "axis", "status", "metric (agent / baseline / reference)",
              "speedup", "n", "reward", "evals", "time"]  # fmt: skip
    rows = []
    for r in sorted(results, key=lambda r: r.task):
        metric = f"{_num(r.metric)} / {_num(r.baseline)} / {_num(r.reference)} {r.metric_name}"
        speedup = "-" if r.speedup is None else f"{_num(r.speedup, 2)}x"
        status = r.status + (" (resumed)" if r.resumed else "")
        time_used = f"{r.agent_time_s + r.verify_time_s:.0f}s"
        rows.append([r.task, r.axis, status, metric, speedup, _num(r.n),
                     f"{r.reward:.3f}", str(r.evaluations), time_used])  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {4, 5, 6, 7, 8}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    summary = summarize(results)
    out.append("")
    out.append(f"mean reward: {summary['mean_reward']:.3f} over {summary['tasks']} task(s)")
    if summary["mean_reward_by_axis"]:
        axes = ", ".join(f"{a} {v:.3f}" for a, v in summary["mean_reward_by_axis"].items())
        out.append(f"by axis: {axes}")
    for r in sorted(results, key=lambda r: r.task):
        if r.loop.get("evaluations"):
            out.append(format_loop(r))
    for r in sorted(results, key=lambda r: r.task):
        if r.status not in ("scored",) and r.reason:
            out.append(f"{r.task}: {r.status}: {r.reason.splitlines()[0][:200]}")
    return out


def format_loop(r: TaskResult) -> str:
    """One line on the agent's loop, from the experiment ledger (issue 4)."""
    loop = r.loop
    recoveries = loop.get("recoveries", 0)
    text = (
        f"{r.task} loop: {loop['evaluations']} evaluations ({loop.get('correct', 0)} correct), "
        f"{loop.get('improvements', 0)} improvements, {recoveries} "
        f"{'recovery' if recoveries == 1 else 'recoveries'}"
    )
    hidden = loop.get("hidden") if isinstance(loop.get("hidden"), dict) else None
    if loop.get("best_n") is not None:
        text += f", best n {_num(loop['best_n'])}"
        if loop.get("time_to_best_s") is not None:
            text += f" at {loop['time_to_best_s']:.0f}s"
        if hidden is not None:
            text += f" (hidden seed: {_num(hidden.get('best_n'))})"
    text += f", anytime {loop.get('anytime', 0.0):.3f}"
    if hidden is not None:
        text += f" (hidden seed: {hidden.get('anytime', 0.0):.3f})"
    return text


def load_results(paths: Iterable[Path]) -> list[TaskResult]:
    """Every task result under the given run directories (or result.json files), merged.

    For GitHub Actions matrices: each job writes its own run directory; one job merges
    them. When a task appears twice, the later result wins.
    """
    merged: dict[str, TaskResult] = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(path.glob("*/result.json"))
        if not files:
            raise FileNotFoundError(f"{path}: no result.json found (expected a run directory)")
        for file in files:
            result = load_result(file)
            if result is None:
                raise ValueError(f"{file}: not a readable result.json")
            merged[result.task] = result
    return sorted(merged.values(), key=lambda r: r.task)
