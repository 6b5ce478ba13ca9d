"""The reference agents every task is validated with.

- ``nop`` changes nothing: the untouched baseline must score 0.
- ``oracle`` puts the task's solution/ files in place: it must score at the reference.
- ``files`` puts the editable files of a folder in place (a saved submission, a validation variant).
"""

from __future__ import annotations

from pathlib import Path

from ._protocol import AgentContext, AgentError, AgentOutcome

__all__ = ["FilesAgent", "NopAgent", "OracleAgent"]


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


class FilesAgent:
    """Puts the editable files of a folder in place: replays a saved submission, or scores one
    of a task's validation variants (``--autolab-agent=files --autolab-agent-option dir=PATH``).

    A relative ``dir`` is taken relative to the task folder first, then to the working
    directory, so ``dir=validation/rungs/scalar`` works for every task it names.
    """

    name = "files"

    def __init__(self, dir: str = "") -> None:
        if not dir:
            raise AgentError("the files agent needs a folder: --autolab-agent-option dir=PATH")
        self.dir = dir

    def run(self, ctx: AgentContext) -> AgentOutcome:
        folder = Path(self.dir)
        if not folder.is_absolute():
            in_task = ctx.task.path / folder
            folder = in_task if in_task.is_dir() else folder.resolve()
        if not folder.is_dir():
            raise AgentError(f"the files agent's dir {self.dir!r} is not a folder")
        from ..validation import editable_files, stray_files

        stray = stray_files(folder, ctx.task.editable)
        if stray:
            raise AgentError(
                f"{self.dir} holds files that are not editable in {ctx.task.name}: {', '.join(stray)}"
            )
        files = editable_files(folder, ctx.task.editable)
        if not files:
            raise AgentError(f"{folder} has none of the editable files ({', '.join(ctx.task.editable)})")
        ctx.tools.write_files(files)
        return AgentOutcome(message=f"put {', '.join(sorted(files))} from {folder} in place")
