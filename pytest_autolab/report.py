"""The terminal summary and summary.json: continuous rewards, not pass/fail."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .results import TaskResult, load_result
from .tasks import AXES

__all__ = [
    "HARNESS_FAILURES",
    "RunGroup",
    "format_comparison",
    "format_markdown",
    "format_table",
    "harness_failures",
    "load_results",
    "load_runs",
    "summarize",
]


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


def attempt_stats(results: Iterable[TaskResult]) -> dict[str, Any] | None:
    """With --autolab-attempts K: per task and overall, the mean reward ± its standard error
    over the K attempts and the best of K; None for a run without attempts.

    Overall: the mean over tasks of each attempt's reward (one score per attempt), its mean
    and standard error over the attempts, and the mean over tasks of each task's best."""
    rows = [r for r in results if r.attempt]
    if not rows:
        return None
    by_task: dict[str, list[TaskResult]] = {}
    for r in sorted(rows, key=lambda r: (r.task, r.attempt)):
        by_task.setdefault(r.task, []).append(r)

    def mean_se(values: list[float]) -> tuple[float, float]:
        mean = statistics.fmean(values)
        se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return mean, se

    tasks: dict[str, dict[str, Any]] = {}
    for task, attempts in by_task.items():
        rewards = [r.reward for r in attempts]
        mean, se = mean_se(rewards)
        tasks[task] = {
            "attempts": len(rewards),
            "rewards": rewards,
            "mean": mean,
            "stderr": se,
            "best": max(rewards),
        }
    k = max(len(a) for a in by_task.values())
    per_attempt = [statistics.fmean(a[i].reward for a in by_task.values() if len(a) > i) for i in range(k)]
    mean, se = mean_se(per_attempt)
    return {
        "k": k,
        "tasks": tasks,
        "mean": mean,
        "stderr": se,
        "per_attempt": per_attempt,
        "best_of_k": statistics.fmean(t["best"] for t in tasks.values()),
    }


def format_attempts(stats: dict[str, Any]) -> list[str]:
    """The attempts block of the terminal table."""
    k = stats["k"]
    out = [f"attempts: {k} per task: mean ± standard error, best of {k}"]
    for task, t in stats["tasks"].items():
        out.append(
            f"  {task}: reward {t['mean']:.3f} ± {t['stderr']:.3f}, best of {t['attempts']} {t['best']:.3f}"
        )
    out.append(
        f"overall: reward {stats['mean']:.3f} ± {stats['stderr']:.3f}, best of {k} {stats['best_of_k']:.3f}"
    )
    return out


def summarize(results: Iterable[TaskResult]) -> dict[str, Any]:
    """The summary.json document: every row of the table plus the means."""
    rows = sorted(results, key=lambda r: (r.task, r.attempt))
    per_axis = {
        axis: statistics.fmean(r.reward for r in rows if r.axis == axis)
        for axis in AXES
        if any(r.axis == axis for r in rows)
    }
    return {
        "tasks": len({r.task for r in rows}),
        "mean_reward": statistics.fmean(r.reward for r in rows) if rows else 0.0,
        "mean_reward_by_axis": per_axis,
        "attempts": attempt_stats(rows),
        "results": [
            {
                "task": r.task,
                "attempt": r.attempt,
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


def _loop_summary(loop: Mapping[str, Any]) -> dict[str, Any]:
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
    for r in sorted(results, key=lambda r: (r.task, r.attempt)):
        metric = f"{_num(r.metric)} / {_num(r.baseline)} / {_num(r.reference)} {r.metric_name}"
        speedup = "-" if r.speedup is None else f"{_num(r.speedup, 2)}x"
        status = r.status + (" (resumed)" if r.resumed else "")
        time_used = f"{r.agent_time_s + r.verify_time_s:.0f}s"
        rows.append([r.run_name, r.axis, status, metric, speedup, _num(r.n),
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
    if summary["attempts"]:
        out.extend(format_attempts(summary["attempts"]))
    for r in sorted(results, key=lambda r: r.task):
        if r.loop.get("evaluations"):
            out.append(format_loop(r))
    for r in sorted(results, key=lambda r: r.task):
        if r.status not in ("scored",) and r.reason:
            out.append(f"{r.run_name}: {r.status}: {r.reason.splitlines()[0][:200]}")
    return out


def format_loop(r: TaskResult) -> str:
    """One line on the agent's loop, from the experiment ledger (issue 4)."""
    loop = r.loop
    recoveries = loop.get("recoveries", 0)
    text = (
        f"{r.run_name} loop: {loop['evaluations']} evaluations ({loop.get('correct', 0)} correct), "
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


#: Statuses that are the harness's failure, not the agent's: a CI job fails for these only.
HARNESS_FAILURES = frozenset({"error", "invalid_task", "incomplete"})


@dataclasses.dataclass
class RunGroup:
    """The results of one agent (and model), merged from one or more run directories."""

    agent: str
    model: str | None
    #: Where the results came from (run directories or result.json files).
    sources: list[Path] = dataclasses.field(default_factory=list)
    results: list[TaskResult] = dataclasses.field(default_factory=list)
    #: Tasks a run selected but ended without a result (summary.json's not_run).
    not_run: list[str] = dataclasses.field(default_factory=list)
    #: Each task's result folder (its ledger, agent log and submission).
    folders: dict[str, Path] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.agent} ({self.model})" if self.model else self.agent


def _run_settings(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        settings = data.get("settings")
        return settings if isinstance(settings, dict) else {}
    except (OSError, ValueError):
        return {}


def _not_run(folder: Path) -> list[str]:
    try:
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = data.get("not_run") if isinstance(data, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


def load_runs(paths: Iterable[Path]) -> tuple[list[RunGroup], list[str]]:
    """The results under the given run directories (or result.json files), grouped by agent and
    model, and one line per group saying what was merged.

    For GitHub Actions matrices: each job writes its own run directory; one job merges them.
    Runs of different agents (or models) are never averaged together: each is a group. A task
    that appears twice in one group is an error (which one to trust is not ours to guess).
    """
    groups: dict[tuple[str, str | None], RunGroup] = {}
    seen: dict[tuple[str, str | None, str], Path] = {}  # (agent, model, task[@attempt])
    for path in dict.fromkeys(p.resolve() for p in paths):
        files = [path] if path.is_file() else sorted(path.glob("*/result.json"))
        if not files:
            raise FileNotFoundError(f"{path}: no result.json found (expected a run directory)")
        folder = path.parent.parent if path.is_file() else path
        settings = _run_settings(folder)
        raw_options = settings.get("agent_options")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        for file in files:
            result = load_result(file)
            if result is None:
                raise ValueError(f"{file}: not a readable result.json")
            model = options.get("model") or result.usage.get("model") or None
            key = (result.agent, str(model) if model else None)
            group = groups.setdefault(key, RunGroup(agent=key[0], model=key[1]))
            if path not in group.sources:
                group.sources.append(path)
            if (*key, result.run_name) in seen:
                raise ValueError(
                    f"task {result.run_name} of agent {group.label} appears twice: in "
                    f"{seen[(*key, result.run_name)]} and in {file} (give each run once)"
                )
            seen[(*key, result.run_name)] = file
            group.results.append(result)
            group.folders[result.run_name] = file.parent
        if path.is_dir():
            for group in groups.values():
                if path in group.sources:
                    group.not_run.extend(n for n in _not_run(path) if n not in group.not_run)
    ordered = sorted(groups.values(), key=lambda g: g.label)
    notes = []
    for group in ordered:
        group.results.sort(key=lambda r: (r.task, r.attempt))
        where = ", ".join(str(s) for s in group.sources)
        notes.append(
            f"merged {len(group.results)} task result(s) of {group.label} from "
            f"{len(group.sources)} run(s): {where}"
        )
    return ordered, notes


def load_results(paths: Iterable[Path]) -> list[TaskResult]:
    """Every task result under the given run directories, merged: one agent's runs only."""
    groups, _ = load_runs(paths)
    if len(groups) > 1:
        raise ValueError(
            "runs of several agents or models: "
            + ", ".join(g.label for g in groups)
            + " (compare them with load_runs, never average them)"
        )
    return groups[0].results if groups else []


def harness_failures(group: RunGroup) -> list[str]:
    """One line per task the harness failed (not the agent): the CI job fails for these."""
    lines = [f"{r.run_name}: {r.status}: {r.reason.splitlines()[0][:200] if r.reason else ''}".rstrip(": ")
             for r in group.results if r.status in HARNESS_FAILURES]  # fmt: skip
    lines += [f"{name}: not run (the session stopped before it)" for name in group.not_run]
    return lines


def comparison(groups: Sequence[RunGroup]) -> tuple[list[str], list[str], dict[tuple[str, str], TaskResult]]:
    """Task names, group labels and the result of each (label, task) pair."""
    tasks = sorted({r.task for g in groups for r in g.results})
    cells: dict[tuple[str, str], TaskResult] = {}
    for g in groups:
        for r in g.results:
            if (g.label, r.task) in cells:  # attempts: the cell shows their mean reward
                continue
            attempts = [a for a in g.results if a.task == r.task]
            if len(attempts) > 1:
                r = dataclasses.replace(r, reward=statistics.fmean(a.reward for a in attempts),
                                        status=f"mean of {len(attempts)} attempts")  # fmt: skip
            cells[(g.label, r.task)] = r
    return tasks, [g.label for g in groups], cells


def format_comparison(groups: Sequence[RunGroup]) -> list[str]:
    """An agent x task table of rewards, with each agent's mean and per-axis means."""
    tasks, labels, cells = comparison(groups)
    axes = [a for a in AXES if any(r.axis == a for g in groups for r in g.results)]
    header = ["agent", *tasks, "mean", *(f"mean {a}" for a in axes)]
    rows = []
    for group in groups:
        summary = summarize(group.results)
        row = [group.label]
        row += [f"{cells[(group.label, t)].reward:.3f}" if (group.label, t) in cells else "-" for t in tasks]
        row.append(f"{summary['mean_reward']:.3f}")
        row += [f"{summary['mean_reward_by_axis'][a]:.3f}" if a in summary["mean_reward_by_axis"] else "-"
                for a in axes]  # fmt: skip
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
           for r in [header, ["-" * w for w in widths], *rows]]  # fmt: skip
    missing = [f"{label}: no result for {t}" for t in tasks for label in labels if (label, t) not in cells]
    if missing:
        out.append("missing (not counted in that agent's mean): " + "; ".join(missing))
    return [line.rstrip() for line in out]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(groups: Sequence[RunGroup], notes: Sequence[str] = ()) -> str:
    """The report as GitHub-flavoured Markdown (for $GITHUB_STEP_SUMMARY)."""
    out: list[str] = []
    if len(groups) > 1:
        tasks, _, cells = comparison(groups)
        out += ["## autolab: comparison (reward)", ""]
        out.append("| agent | " + " | ".join(tasks) + " | mean |")
        out.append("|---|" + "---:|" * (len(tasks) + 1))
        for group in groups:
            mean = summarize(group.results)["mean_reward"]
            cellv = [
                f"{cells[(group.label, t)].reward:.3f}" if (group.label, t) in cells else "-" for t in tasks
            ]
            out.append(f"| {_md(group.label)} | " + " | ".join(cellv) + f" | **{mean:.3f}** |")
        out.append("")
    for group in groups:
        summary = summarize(group.results)
        out += [f"## autolab: {_md(group.label)}", ""]
        out.append(f"**mean reward {summary['mean_reward']:.3f}** over {summary['tasks']} task(s)")
        if summary["attempts"]:
            st = summary["attempts"]
            out[-1] += (f"; {st['k']} attempts: {st['mean']:.3f} ± {st['stderr']:.3f} (standard error), "
                        f"best of {st['k']} {st['best_of_k']:.3f}")  # fmt: skip
        if summary["mean_reward_by_axis"]:
            out[-1] += "; by axis: " + ", ".join(
                f"{a} {v:.3f}" for a, v in summary["mean_reward_by_axis"].items()
            )
        out += ["", "| task | axis | status | metric | baseline | reference | speedup | n | reward | evals | time |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in group.results:
            speedup = "-" if r.speedup is None else f"{_num(r.speedup, 2)}x"
            status = r.status if r.status in ("scored",) else f"**{r.status}**"
            out.append(
                f"| {_md(r.run_name)} | {r.axis} | {status} | {_num(r.metric)} {_md(r.metric_name)} | "
                f"{_num(r.baseline)} | {_num(r.reference)} | {speedup} | {_num(r.n)} | "
                f"{r.reward:.3f} | {r.evaluations} | {r.agent_time_s + r.verify_time_s:.0f}s |"
            )
        reasons = [f"- {_md(r.run_name)}: {r.status}: {_md(r.reason.splitlines()[0][:200])}"
                   for r in group.results if r.status != "scored" and r.reason]  # fmt: skip
        failures = harness_failures(group)
        if reasons:
            out += ["", *reasons]
        if failures:
            out += ["", f"**harness failures ({len(failures)})**: " + "; ".join(_md(f) for f in failures)]
        out.append("")
    if notes:
        out += ["<details><summary>what was merged</summary>", "", *(f"- {_md(n)}" for n in notes), "",
                "</details>", ""]  # fmt: skip
    return "\n".join(out)
