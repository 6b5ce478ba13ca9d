"""Finding and creating agents: built-in names, the entry-point group, ``module:Class``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from ._protocol import Agent, AgentError, Checked

__all__ = [
    "BUILTIN_AGENTS",
    "ENTRY_POINT_GROUP",
    "load_agent",
    "parse_numeric_option",
    "preflight_agent",
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


def preflight_agent(name: str, options: Mapping[str, str] | None = None) -> Agent:
    """Create the agent once and run its ``check()`` if it has one (``Checked``), so that a
    setup error (a CLI that is not installed, no model named) fails the session in one line
    instead of every task."""
    agent = load_agent(name, options)
    if isinstance(agent, Checked):
        agent.check()
    return agent


def parse_numeric_option(
    agent: str, name: str, value: Any, kind: type, *, minimum: float | None = None
) -> Any:
    """A numeric agent option as ``kind``: options from ``--autolab-agent-option`` arrive as
    strings, options from code as numbers; None or "" means the agent's default."""
    if value is None or value == "":
        return None
    try:
        parsed = kind(value)
    except (TypeError, ValueError):
        raise AgentError(f"{agent} agent option {name}={value!r}: expected a {kind.__name__}") from None
    if minimum is not None and parsed < minimum:
        raise AgentError(f"{agent} agent option {name}={value!r}: expected at least {minimum:g}")
    return parsed
