"""The agent protocol: what an agent is given, what it returns, and what it may implement.

See the package's docstring for an example; docs/agents.md for the whole contract.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..sandboxes import Sandbox
    from ..tasks import Task
    from ..tools import Budget, LabTools

__all__ = ["Agent", "AgentContext", "AgentError", "AgentOutcome", "Cancellable", "Checked", "Described"]


class AgentError(Exception):
    """An agent cannot be found, configured or started; the message says how to fix it."""


@dataclasses.dataclass
class AgentContext:
    """What an agent gets for one task run."""

    #: The task (trusted agents such as ``oracle`` may read its folder; others must not).
    task: Task
    #: The instruction, verbatim from instruction.md.
    instruction: str
    #: The agent's sandbox (its app dir holds the starting program), raw: unlike the tools, its
    #: commands are not cut at the deadline, so an agent that uses it watches ``budget`` itself.
    #: Kept on purpose (programmatic agents move files with it; the hostile-agent tests act
    #: through it): it cannot stretch the budget, as the lab abandons an agent at its budget
    #: plus grace and scores nothing then, and evaluations go through ``tools`` only.
    sandbox: Sandbox
    #: Time and evaluations; the tools enforce it.
    budget: Budget
    #: bash, read_file, write_file, evaluate, status.
    tools: LabTools
    #: Where the agent keeps its log and trajectory (``<run>/<task>/agent/``).
    log_dir: Path


@dataclasses.dataclass
class AgentOutcome:
    """What an agent reports when it stops (all optional)."""

    #: The agent's last message.
    message: str = ""
    #: Why it stopped: "done", "budget", "max_turns", ...
    stop_reason: str = "done"
    #: turns, input/output tokens, cost_usd, model ...: copied into result.json.
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Agent(Protocol):
    """An agent: ``run`` works on one task and returns when it stops."""

    name: str

    def run(self, ctx: AgentContext) -> AgentOutcome | None: ...


@runtime_checkable
class Checked(Protocol):
    """An agent that can check its set-up (a CLI installed, a model named) before any task:
    the harness calls ``check()`` once per session, so a setup error fails in one line."""

    def check(self) -> None: ...


@runtime_checkable
class Described(Protocol):
    """An agent that can say what it is beyond its name (a CLI's path, origin and version):
    run.json records ``describe()`` under ``agent``."""

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class Cancellable(Protocol):
    """An agent that can be told to stop: the harness calls ``cancel()`` (from another thread)
    when the agent overran its budget and grace, before it abandons it."""

    def cancel(self) -> None: ...
