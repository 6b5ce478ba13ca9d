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

from ._protocol import Agent, AgentContext, AgentError, AgentOutcome, Cancellable, Checked, Described
from ._registry import (
    BUILTIN_AGENTS,
    ENTRY_POINT_GROUP,
    load_agent,
    parse_numeric_option,
    preflight_agent,
    resolve_agent,
)

__all__ = [
    "BUILTIN_AGENTS",
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentContext",
    "AgentError",
    "AgentOutcome",
    "Cancellable",
    "Checked",
    "Described",
    "load_agent",
    "parse_numeric_option",
    "preflight_agent",
    "resolve_agent",
]
