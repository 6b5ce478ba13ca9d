"""pytest-autolab: a benchmark of AI agents inside the experimental loop.

Each task gives an agent a working but unoptimised program, a budget and a
target metric; the score is continuous, anchored on the task's baseline and a
reference solution. This is the public API, for the two kinds of author:

A task's verifier module (docs/tasks.md) asks for fixtures and measures::

    from pytest_autolab import RecordMetric, Submission, native

    def test_count(submission: Submission, record_metric: RecordMetric) -> None:
        record_metric(submission.callgrind("./main < input").instructions)

An agent (docs/agents.md) implements ``Agent`` and works through ``ctx.tools``::

    from pytest_autolab import AgentContext, AgentOutcome

    class MyAgent:
        name = "mine"

        def run(self, ctx: AgentContext) -> AgentOutcome:
            ctx.tools.evaluate()
            return AgentOutcome(message="done")

The harness's own parts (the lab, run settings, verdicts, evaluations) live in
their modules and are not part of this API.
"""

from __future__ import annotations

from . import native
from ._version import __version__
from .agents import Agent, AgentContext, AgentError, AgentOutcome, load_agent
from .lab import RecordMetric, Submission
from .measure import CallgrindError, Counts, callgrind
from .results import TaskResult
from .sandboxes import ExecResult, Sandbox, SandboxError
from .scoring import normalized_score, reward, speedup
from .tasks import Task, TaskFileError, load_task, pristine_module
from .timing import Timing, TimingError
from .tools import Budget, BudgetExhausted, LabTools

__all__ = [
    "Agent",
    "AgentContext",
    "AgentError",
    "AgentOutcome",
    "Budget",
    "BudgetExhausted",
    "CallgrindError",
    "Counts",
    "ExecResult",
    "LabTools",
    "RecordMetric",
    "Sandbox",
    "SandboxError",
    "Submission",
    "Task",
    "TaskFileError",
    "TaskResult",
    "Timing",
    "TimingError",
    "__version__",
    "callgrind",
    "load_agent",
    "load_task",
    "native",
    "normalized_score",
    "pristine_module",
    "reward",
    "speedup",
]
