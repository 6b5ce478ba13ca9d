"""pytest-autolab: a benchmark of AI agents inside the experimental loop.

Each task gives an agent a working but unoptimised program, a budget and a
target metric; the score is continuous, anchored on the task's baseline and a
reference solution. The public API is re-exported here.
"""

from __future__ import annotations

from . import native
from ._version import __version__
from .agents import Agent, AgentContext, AgentError, AgentOutcome, load_agent
from .evaluation import Evaluation
from .lab import Lab, RunSettings, Submission, Verdict
from .measure import CallgrindError, Counts, callgrind
from .results import TaskResult
from .sandboxes import ExecResult, Sandbox, SandboxBackend, SandboxError, get_backend
from .scoring import normalized_score, reward, speedup
from .tasks import Task, TaskFileError, load_task
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
    "Evaluation",
    "ExecResult",
    "Lab",
    "LabTools",
    "RunSettings",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "Submission",
    "Task",
    "TaskFileError",
    "TaskResult",
    "Timing",
    "TimingError",
    "Verdict",
    "__version__",
    "callgrind",
    "get_backend",
    "load_agent",
    "load_task",
    "native",
    "normalized_score",
    "reward",
    "speedup",
]
