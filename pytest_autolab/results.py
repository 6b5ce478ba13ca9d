"""Results on disk: the run directory, result.json per task, atomic writes, resume.

Layout (DESIGN.md, Results)::

    .autolab/runs/<run id>/
      run.json                     config, versions, machine
      summary.json                 every row of the terminal table (controller)
      <task>/
        result.json                TaskResult below
        ledger.jsonl               one line per evaluate() call
        agent/                     agent log and trajectory
        submission/                the scored files
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

__all__ = [
    "FINISHED",
    "REPORT_ATTRIBUTE",
    "HiddenLoop",
    "LoopStats",
    "ReverifiedSnapshot",
    "TaskResult",
    "atomic_write_json",
    "atomic_write_text",
    "attach_result",
    "load_result",
    "result_of_report",
    "write_files",
]

#: Statuses that end a task for good: a resumed run keeps them.
FINISHED = frozenset({"scored", "incorrect", "no_metric", "agent_error", "agent_timeout", "rejected"})


class ReverifiedSnapshot(TypedDict):
    """One improvement of the loop, verified again on the hidden seed."""

    snapshot: str
    t_s: float
    #: n on the public seed (what evaluate() told the agent).
    n_public: float
    status: str
    #: n on the hidden seed; None when incorrect there.
    n: float | None


class HiddenLoop(TypedDict, total=False):
    """The loop's figures with its improvements re-verified on the hidden seed (``hidden_curve``)."""

    best_n: float | None
    anytime: float
    #: Snapshots verified again, and improvements the loop made (the latest ones are verified).
    verified: int
    improvements: int
    snapshots: list[ReverifiedSnapshot]
    time_s: float


class LoopStats(TypedDict, total=False):
    """result.json's ``loop``: what the ledger says about the agent's loop (``summarize_entries``),
    which files were submitted, and the same figures on the hidden seed."""

    evaluations: int
    correct: int
    improvements: int
    setbacks: int
    recoveries: int
    best_n: float | None
    best_snapshot: str | None
    time_to_best_s: float | None
    #: The area under the best-so-far curve over the budget, per unit of time.
    anytime: float
    final_snapshot: str | None
    final_n: float | None
    #: ``[t_s, best n so far]`` after each evaluation.
    best_curve: list[list[float]]
    #: final | best (--autolab-submit), and the hash of the files scored.
    submitted: str
    submitted_snapshot: str | None
    hidden: HiddenLoop


@dataclasses.dataclass
class TaskResult:
    """Everything known about one task's run; serialised as result.json."""

    #: Task folder name.
    task: str
    #: faster | smarter | smaller.
    axis: str
    #: scored | incorrect | no_metric | agent_error | agent_timeout | rejected | error |
    #: invalid_task | incomplete (part of the verifier did not run: not scored, rerun on resume).
    status: str
    #: Name of the agent that produced the submission.
    agent: str
    #: Every correctness test passed.
    correct: bool = False
    #: Name of the metric and its direction (lower | higher).
    metric_name: str = ""
    direction: str = "lower"
    scale: str = "log"
    #: The submission's metric, and the anchors it is normalised between.
    metric: float | None = None
    baseline: float | None = None
    reference: float | None = None
    #: n: 0 at the baseline, 1 at the reference, unclipped.
    n: float | None = None
    #: clip(ref_reward * n, 0, 1), or 0.
    reward: float = 0.0
    ref_reward: float = 1.0
    #: Times better than the baseline.
    speedup: float | None = None
    #: How the metric was measured, as the verifier recorded it (record_metric's ``details``):
    #: for a count, the tool, events and cache model; for a timed speedup, the raw times, the
    #: ratio, its interval and the rounds.
    details: dict[str, Any] | None = None
    #: A sentence on why the status is what it is (the error, the failing test).
    reason: str = ""
    #: Failing verifier tests: "nodeid: first line of the message".
    failures: list[str] = dataclasses.field(default_factory=list)
    #: Seed of the hidden inputs used by the final verification.
    seed: int | None = None
    #: Budget given: {"time_s": ..., "max_evaluations": ...}; and what was used.
    budget: dict[str, float] = dataclasses.field(default_factory=dict)
    agent_time_s: float = 0.0
    verify_time_s: float = 0.0
    #: evaluate() calls the agent made.
    evaluations: int = 0
    #: Loop statistics from the experiment ledger (improvements, recoveries, anytime score, ...).
    loop: LoopStats = dataclasses.field(default_factory=lambda: LoopStats())
    #: What the agent reported: turns, tokens, cost, final message.
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Files scored (relative paths).
    submission: list[str] = dataclasses.field(default_factory=list)
    #: Sandbox backend that ran the agent and the verifier.
    sandbox: str = ""
    started_at: str = ""
    finished_at: str = ""
    #: True when this result was carried over from an earlier, resumed run.
    resumed: bool = False
    #: Which of --autolab-attempts K independent runs this is (1..K); 0 when K = 1.
    attempt: int = 0
    #: What the harness noticed on the way (a backend fallback, a harness warning, orphans removed).
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def run_name(self) -> str:
        """The result's folder in its run directory: ``task``, or ``task@k`` for attempt k."""
        return f"{self.task}@{self.attempt}" if self.attempt else self.task

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _finite(dataclasses.asdict(self))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


#: The attribute of a test report that carries a task's result (result.json's dict). xdist
#: sends a report's ``__dict__`` to the controller and ``TestReport(**extra)`` keeps it.
REPORT_ATTRIBUTE = "autolab_result"


def attach_result(report: Any, result: TaskResult) -> None:
    """Put a task's result on a test report (one report per task)."""
    # Plain builtins only: xdist's execnet serialiser refuses anything else.
    setattr(report, REPORT_ATTRIBUTE, result.to_json())


def result_of_report(report: Any) -> TaskResult | None:
    """The task result a test report carries, or None."""
    data = getattr(report, REPORT_ATTRIBUTE, None)
    return TaskResult.from_json(data) if isinstance(data, dict) else None


def _finite(value: Any) -> Any:
    # JSON has no Infinity: write it as a string so that every reader can parse the file.
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # backslashreplace: a lone surrogate (an agent's message) must not lose the file.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def load_result(path: Path) -> TaskResult | None:
    """A result.json, or None if it is missing or unreadable (then the task reruns)."""
    try:
        return TaskResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write a snapshot ({relative path: bytes}) under ``folder``."""
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
