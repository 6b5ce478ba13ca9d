"""The lab tools: the one implementation every agent uses.

``bash``, ``read_file``, ``write_file``, ``evaluate`` and ``status``, bound to
one task run. The budget is enforced here, not by the agents: once time is up
every tool raises BudgetExhausted, and evaluate() refuses once the evaluations
are spent. The built-in agent calls these directly; CLI agents reach them
through the MCP server (mcp_server.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .sandboxes import Sandbox, SnapshotError

if TYPE_CHECKING:
    from .evaluation import Evaluation
    from .ledger import Ledger
    from .tasks import Task

__all__ = ["Budget", "BudgetExhausted", "LabTools"]

#: Longest a single bash command may run, whatever the budget left.
MAX_COMMAND_S = 600.0
#: What one observation returns to the model at most (head + tail kept).
OBSERVATION_LIMIT = 16 * 1024


class BudgetExhausted(Exception):
    """The run's time is up: the agent must stop; what it left is scored."""


@dataclasses.dataclass
class Budget:
    """Time and evaluations for one agent run."""

    #: Wall-clock seconds for the whole agent loop.
    time_s: float
    #: evaluate() calls allowed.
    max_evaluations: int
    #: time.monotonic() at the start of the run.
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: Wall-clock start, for telling the agent its deadline as a date.
    started_at: dt.datetime = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc)
    )
    evaluations_used: int = 0

    @property
    def deadline(self) -> float:
        return self.started + self.time_s

    @property
    def deadline_at(self) -> dt.datetime:
        return self.started_at + dt.timedelta(seconds=self.time_s)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    @property
    def evaluations_left(self) -> int:
        return max(0, self.max_evaluations - self.evaluations_used)

    def describe(self) -> str:
        """The budget in a sentence, for the agent's prompt."""
        return (
            f"{self.time_s:.0f} s of wall-clock time (deadline {self.deadline_at:%Y-%m-%d %H:%M:%S} UTC) "
            f"and {self.max_evaluations} evaluate() calls"
        )


def _trim(text: str, limit: int = OBSERVATION_LIMIT) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters cut: narrow the command's output ...]\n{text[-half:]}"


class LabTools:
    """The tools of one task run, shared by the agent and (for CLI agents) the MCP server.

    Thread-safe: CLI agents may call tools from the MCP server's threads.
    """

    def __init__(
        self,
        *,
        task: Task,
        sandbox: Sandbox,
        budget: Budget,
        evaluator: Callable[[Mapping[str, bytes]], Evaluation],
        ledger: Ledger | None = None,
    ) -> None:
        self.task = task
        self.sandbox = sandbox
        self.budget = budget
        self._evaluator = evaluator
        self.ledger = ledger
        self._lock = threading.Lock()
        self.best: Evaluation | None = None
        self.calls: dict[str, int] = {}

    def _enter(self, tool: str) -> None:
        self.calls[tool] = self.calls.get(tool, 0) + 1
        if self.budget.expired():
            raise BudgetExhausted(
                f"the time budget ({self.budget.time_s:.0f} s) is spent: stop now; "
                "the files as they are will be scored"
            )

    # -- the tools ---------------------------------------------------------------------------

    def bash(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Run a shell command in the app dir; output trimmed head + tail."""
        self._enter("bash")
        limit = min(timeout or MAX_COMMAND_S, MAX_COMMAND_S, max(self.budget.remaining_s(), 1.0))
        result = self.sandbox.exec(command, timeout=limit)
        return {
            "exit_code": result.exit_code,
            "output": _trim(result.output),
            "timed_out": result.timed_out,
            "note": (
                f"killed after {limit:.0f} s" if result.timed_out else ""
            ) + (f"; {result.truncated_bytes} bytes of output cut" if result.truncated_bytes else ""),
        }

    def read_file(self, path: str) -> str:
        """Read a text file relative to the app dir."""
        self._enter("read_file")
        return _trim(self.sandbox.read_file(path).decode("utf-8", "replace"), 4 * OBSERVATION_LIMIT)

    def write_file(self, path: str, content: str) -> str:
        """Write a text file relative to the app dir (only editable files are scored)."""
        self._enter("write_file")
        self.sandbox.write_files({path: content.encode("utf-8")})
        note = "" if path in self.task.editable else " (not an editable file: it will not be scored)"
        return f"wrote {len(content)} characters to {path}{note}"

    def write_files(self, files: Mapping[str, bytes]) -> None:
        """Write several files at once (bytes); for programmatic agents."""
        self._enter("write_files")
        self.sandbox.write_files(files)

    def evaluate(self) -> dict[str, Any]:
        """Score the current editable files on the PUBLIC inputs and record it in the ledger."""
        self._enter("evaluate")
        with self._lock:
            if self.budget.evaluations_left <= 0:
                return {
                    "error": f"no evaluations left (all {self.budget.max_evaluations} used)",
                    "evaluations_left": 0,
                }
            self.budget.evaluations_used += 1
        try:
            files = self.sandbox.snapshot(self.task.editable)
        except SnapshotError as exc:
            return {"error": f"cannot take the snapshot: {exc}"}
        evaluation = self._evaluator(files)
        with self._lock:
            if self.ledger is not None:
                self.ledger.record(evaluation, files, elapsed_s=self.budget.elapsed_s())
            if evaluation.correct and evaluation.n is not None and (
                self.best is None or self.best.n is None or evaluation.n > self.best.n
            ):
                self.best = evaluation
        return {**evaluation.for_agent(), "evaluations_left": self.budget.evaluations_left}

    def status(self) -> dict[str, Any]:
        """Time and evaluations left, and the best evaluation so far."""
        self.calls["status"] = self.calls.get("status", 0) + 1
        best = self.best.for_agent() if self.best else None
        return {
            "time_left_s": round(self.budget.remaining_s(), 1),
            "evaluations_left": self.budget.evaluations_left,
            "evaluations_used": self.budget.evaluations_used,
            "best": best,
        }
