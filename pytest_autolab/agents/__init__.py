"""Agents: what works on a task inside the budget.

Every agent implements one method::

    class MyAgent:
        name = "mine"

        def run(self, ctx: AgentContext) -> AgentOutcome | None:
            ctx.tools.bash("make")             # the lab tools (tools.py)
            ctx.tools.evaluate()
            return AgentOutcome(message="done")

``--autolab-agent`` takes a built-in name (``nop``, ``oracle``, ``llm``,
``claude``, ``codex``), a name registered by a third-party package under the
``pytest_autolab.agents`` entry-point group, or ``module:Class``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..sandboxes import Sandbox
    from ..tasks import Task
    from ..tools import Budget, LabTools

__all__ = [
    "BUILTIN_AGENTS",
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentContext",
    "AgentError",
    "AgentOutcome",
    "load_agent",
    "resolve_agent",
]

ENTRY_POINT_GROUP = "pytest_autolab.agents"

#: Built-in agents: name -> "module:Class".
BUILTIN_AGENTS: dict[str, str] = {
    "nop": "pytest_autolab.agents.builtin:NopAgent",
    "oracle": "pytest_autolab.agents.builtin:OracleAgent",
    "files": "pytest_autolab.agents.builtin:FilesAgent",
    "llm": "pytest_autolab.agents.llm:LLMAgent",
    "claude": "pytest_autolab.agents.claude:ClaudeAgent",
    "codex": "pytest_autolab.agents.codex:CodexAgent",
}


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


def _import(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentError(f"cannot import agent module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AgentError(f"module {module_name!r} has no agent {attr!r}") from None


def resolve_agent(name: str) -> Callable[..., Agent]:
    """The factory (usually the class) for an agent name or ``module:Class``."""
    if ":" in name:
        return _import(name)  # type: ignore[no-any-return]
    if name in BUILTIN_AGENTS:
        return _import(BUILTIN_AGENTS[name])  # type: ignore[no-any-return]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()  # type: ignore[no-any-return]
    known = sorted({*BUILTIN_AGENTS, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})
    raise AgentError(f"unknown agent {name!r}: expected one of {', '.join(known)}, or module:Class")


def load_agent(name: str, options: Mapping[str, str] | None = None) -> Agent:
    """Create the agent ``name`` with ``options`` (from ``--autolab-agent-option KEY=VALUE``)."""
    factory = resolve_agent(name)
    try:
        agent = factory(**dict(options or {}))
    except TypeError as exc:
        raise AgentError(f"agent {name!r} does not accept these options: {exc}") from exc
    if not callable(getattr(agent, "run", None)):
        raise AgentError(f"agent {name!r} has no run(ctx) method")
    return agent
