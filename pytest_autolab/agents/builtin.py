"""The two reference agents every task is validated with.

- ``nop`` changes nothing: the untouched baseline must score 0.
- ``oracle`` puts the task's solution/ files in place: it must score at the reference.
"""

from __future__ import annotations

from . import AgentContext, AgentError, AgentOutcome

__all__ = ["NopAgent", "OracleAgent"]


class NopAgent:
    """Changes nothing."""

    name = "nop"

    def run(self, ctx: AgentContext) -> AgentOutcome:
        return AgentOutcome(message="changed nothing")


class OracleAgent:
    """Copies every file of solution/ that is an editable file into the app dir."""

    name = "oracle"

    def run(self, ctx: AgentContext) -> AgentOutcome:
        solution = ctx.task.solution_dir
        files = {
            rel: (solution / rel).read_bytes() for rel in ctx.task.editable if (solution / rel).is_file()
        }
        if not files:
            editable = ", ".join(ctx.task.editable)
            raise AgentError(
                f"{solution} has none of the editable files ({editable}): "
                "the oracle has nothing to put in place"
            )
        ctx.tools.write_files(files)
        return AgentOutcome(message=f"put {', '.join(sorted(files))} from solution/ in place")
