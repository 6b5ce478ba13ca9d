"""The lab tools: the one implementation every agent uses.

``bash``, ``read_file``, ``write_file``, ``evaluate`` and ``status``, bound to
one task run. The budget is enforced here, not by the agents: once time is up
every tool but ``status`` raises BudgetExhausted, evaluate() refuses once the
evaluations are spent, and no command or evaluation runs past the deadline.

Programmatic agents call the methods; model-driven agents go through
``LabTools.call(name, arguments)``, which checks the arguments against
``TOOL_SPECS`` and returns the observation as text (the built-in ``llm`` agent
directly, CLI agents through the MCP server in agents/mcp_server.py)::

    tools.call("bash", {"command": "python3 check.py"})
    -> "exit code 0 (0.4 s)\\n...output...\\n[time left: 1712 s of 1800 s; evaluations left: 97 of 100]"
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .evaluation import Evaluation
from .sandboxes import Sandbox, SandboxError, SnapshotError, head_and_tail
from .scoring import beats

if TYPE_CHECKING:
    from .ledger import Ledger
    from .tasks import Task

__all__ = [
    "TOOL_SPECS",
    "Budget",
    "BudgetExhausted",
    "Evaluator",
    "LabTools",
    "ToolCallError",
]

#: Longest a single bash command may run, whatever the budget left.
MAX_COMMAND_S = 600.0
#: A bash command's timeout when the agent names none.
DEFAULT_COMMAND_S = 300.0
#: What one observation returns to the model at most (head + tail kept).
OBSERVATION_LIMIT = 16 * 1024
#: What read_file returns at most (head + tail kept).
READ_LIMIT = 64 * 1024


class BudgetExhausted(Exception):
    """The run's time is up: the agent must stop; what it left is scored."""


class ToolCallError(ValueError):
    """A malformed tool call: unknown tool, arguments that are not what the tool takes."""


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
    started_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: evaluate() calls made so far.
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

    def left(self) -> str:
        """What is left, in a line appended to every observation."""
        return (
            f"[time left: {self.remaining_s():.0f} s of {self.time_s:.0f} s; "
            f"evaluations left: {self.evaluations_left} of {self.max_evaluations}]"
        )


class Evaluator(Protocol):
    """Runs the task's verifier on a snapshot with public inputs (Lab.evaluate)."""

    def __call__(self, files: Mapping[str, bytes], *, limit_s: float | None = None) -> Evaluation:
        """``limit_s``: hard wall-clock limit; past it the evaluation is cut and failed."""
        ...


def trim(text: str, limit: int = OBSERVATION_LIMIT) -> str:
    """Keep the head and the tail of ``text`` within ``limit`` characters, saying what was cut."""
    head, tail, cut = head_and_tail(text, limit)
    if not cut:
        return text
    return f"{head}\n[... {cut} characters cut: narrow the command's output ...]\n{tail}"


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }


#: The tools as JSON schemas: the built-in agent's function tools and the MCP server's tools.
TOOL_SPECS: list[dict[str, Any]] = [
    _spec(
        "bash",
        "Run a bash command in the task's app directory (the current directory) and return its "
        "exit code and output (stdout and stderr; long output is cut in the middle). Each call is "
        "a fresh shell: `cd` and `export` do not carry over. Nothing is reachable on the network.",
        {
            "command": {"type": "string", "description": "The command, run with `bash -c`."},
            "timeout": {
                "type": "number",
                "description": f"Seconds before the command is killed (default {DEFAULT_COMMAND_S:.0f}, "
                f"at most {MAX_COMMAND_S:.0f}, never past the deadline).",
            },
        },
        ["command"],
    ),
    _spec(
        "read_file",
        "Read a text file, path relative to the app directory.",
        {"path": {"type": "string", "description": "Relative path, e.g. solve.py."}},
        ["path"],
    ),
    _spec(
        "write_file",
        "Create or overwrite a text file, path relative to the app directory. Only the task's "
        "editable files are scored; other files you write are scratch.",
        {
            "path": {"type": "string", "description": "Relative path, e.g. solve.py."},
            "content": {"type": "string", "description": "The whole new content of the file."},
        },
        ["path", "content"],
    ),
    _spec(
        "evaluate",
        "Score the current editable files with the task's own verifier on public inputs, in a "
        "fresh scratch sandbox: returns correctness, failing checks, the metric, the normalized "
        "score (0 = baseline, 1 = reference) and the reward. Uses one of your limited "
        "evaluations; every call is recorded. The final score uses hidden inputs.",
        {},
        [],
    ),
    _spec(
        "status",
        "Time and evaluations left, and the best evaluation so far.",
        {},
        [],
    ),
]

_SPECS_BY_NAME = {spec["name"]: spec for spec in TOOL_SPECS}
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float)}


def parse_arguments(name: str, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a tool call against TOOL_SPECS; raise ToolCallError saying what is wrong."""
    spec = _SPECS_BY_NAME.get(name)
    if spec is None:
        raise ToolCallError(f"unknown tool {name!r}: the tools are {', '.join(_SPECS_BY_NAME)}")
    if arguments is None or arguments == "":
        args: Any = {}
    elif isinstance(arguments, str):
        try:
            args = json.loads(arguments)
        except ValueError as exc:
            raise ToolCallError(
                f"{name}: the arguments are not valid JSON ({exc}): {arguments[:200]!r}"
            ) from None
    else:
        args = dict(arguments)
    if not isinstance(args, dict):
        raise ToolCallError(f"{name}: the arguments must be a JSON object, got {type(args).__name__}")
    params = spec["parameters"]
    unknown = sorted(set(args) - set(params["properties"]))
    if unknown:
        raise ToolCallError(
            f"{name}: unknown argument(s) {', '.join(unknown)}; it takes "
            f"{', '.join(params['properties']) or 'no arguments'}"
        )
    for key in params["required"]:
        if key not in args:
            raise ToolCallError(f"{name}: missing the required argument {key!r}")
    for key, value in args.items():
        expected = params["properties"][key]["type"]
        if value is None and key not in params["required"]:
            continue
        if isinstance(value, bool) or not isinstance(value, _JSON_TYPES[expected]):
            raise ToolCallError(
                f"{name}: argument {key!r} must be a {expected}, got {json.dumps(value)[:80]}"
            )
    return args


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
        evaluator: Evaluator,
        ledger: Ledger | None = None,
    ) -> None:
        self.task = task
        self.sandbox = sandbox
        self.budget = budget
        self._evaluator = evaluator
        self.ledger = ledger
        self._lock = threading.Lock()
        #: The best correct evaluation so far (highest n).
        self.best: Evaluation | None = None
        #: Calls per tool, refused ones included.
        self.calls: dict[str, int] = {}

    def _enter(self, tool: str) -> None:
        with self._lock:
            self.calls[tool] = self.calls.get(tool, 0) + 1
        if self.budget.expired():
            raise BudgetExhausted(
                f"the time budget ({self.budget.time_s:.0f} s) is spent: stop now; "
                "the files as they are will be scored"
            )

    def briefing(self) -> str:
        """The facts of this run an agent needs besides the instruction: files, budget, tools."""
        editable = ", ".join(self.task.editable)
        return (
            f"Editable files (only these are scored): {editable}.\n"
            f"Budget: {self.budget.describe()}. Every tool but status refuses to work after the "
            "deadline; no command or evaluation runs past it.\n"
            f"Metric: {self.task.metric} ({self.task.direction} is better); baseline "
            f"{self.task.baseline:g}, reference {self.task.reference:g}.\n"
            "evaluate() runs the task's verifier on public inputs; the final score reruns it on "
            "hidden inputs against the editable files you leave."
        )

    # -- the tools ---------------------------------------------------------------------------

    def bash(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Run a shell command in the app dir; output trimmed head + tail."""
        self._enter("bash")
        asked = DEFAULT_COMMAND_S if timeout is None or timeout <= 0 else timeout
        remaining = self.budget.remaining_s()
        limit = max(min(asked, MAX_COMMAND_S, remaining), 0.1)
        result = self.sandbox.exec(command, timeout=limit)
        notes = []
        if result.timed_out:
            cause = " (the deadline)" if limit >= remaining else ""
            notes.append(f"killed after {limit:.0f} s{cause}")
        if result.oom_killed:
            notes.append("killed: out of memory")
        output = result.output
        if result.truncated_bytes:
            notes.append(f"{result.truncated_bytes} bytes of output cut in the middle")
        elif len(output) > OBSERVATION_LIMIT:
            notes.append(f"{len(output) - OBSERVATION_LIMIT} characters of output cut in the middle")
        return {
            "exit_code": result.exit_code,
            "output": trim(output),
            "timed_out": result.timed_out,
            "seconds": round(result.duration_s, 2),
            "note": "; ".join(notes),
        }

    def read_file(self, path: str) -> str:
        """Read a text file relative to the app dir."""
        self._enter("read_file")
        return trim(self.sandbox.read_file(path).decode("utf-8", "replace"), READ_LIMIT)

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
        started = time.monotonic()
        try:
            files = self.sandbox.snapshot(self.task.editable)
        except SnapshotError as exc:
            files = {}
            evaluation = Evaluation.failed(f"cannot take the snapshot: {exc}", time.monotonic() - started)
        else:
            try:
                evaluation = self._evaluator(files, limit_s=max(self.budget.remaining_s(), 0.1))
            except Exception as exc:  # a harness failure is the evaluation's result, not the agent's crash
                evaluation = Evaluation.failed(
                    f"the harness could not run the verifier: {type(exc).__name__}: {exc}",
                    time.monotonic() - started,
                )
        with self._lock:
            if self.ledger is not None:
                self.ledger.record(evaluation, files, elapsed_s=self.budget.elapsed_s())
            if evaluation.correct and beats(evaluation.n, self.best.n if self.best else None):
                self.best = evaluation
        return {**evaluation.for_agent(), "evaluations_left": self.budget.evaluations_left}

    def status(self) -> dict[str, Any]:
        """Time and evaluations left, and the best evaluation so far (works after the deadline)."""
        with self._lock:
            self.calls["status"] = self.calls.get("status", 0) + 1
            best = self.best.for_agent() if self.best else None
        return {
            "time_left_s": round(self.budget.remaining_s(), 1),
            "time_budget_s": round(self.budget.time_s, 1),
            "deadline": self.budget.deadline_at.isoformat(timespec="seconds"),
            "evaluations_left": self.budget.evaluations_left,
            "evaluations_used": self.budget.evaluations_used,
            "best": best,
        }

    # -- model-facing dispatch ---------------------------------------------------------------

    def call(self, name: str, arguments: str | Mapping[str, Any] | None = None) -> str:
        """Run one tool call from a model and return the observation as text.

        Raises ToolCallError for a malformed call and BudgetExhausted after the
        deadline; a tool that fails (a missing file, a refused path) returns the
        error as its observation.
        """
        args = parse_arguments(name, arguments)
        try:
            if name == "bash":
                text = format_bash(self.bash(args["command"], args.get("timeout")))
            elif name == "read_file":
                text = self.read_file(args["path"])
            elif name == "write_file":
                text = self.write_file(args["path"], args["content"])
            elif name == "evaluate":
                text = json.dumps(self.evaluate(), indent=1)
            else:
                text = json.dumps(self.status(), indent=1)
        except (FileNotFoundError, IsADirectoryError, SandboxError, UnicodeError) as exc:
            text = f"error: {exc}"
        return f"{text}\n{self.budget.left()}"


def format_bash(result: Mapping[str, Any]) -> str:
    """A bash result as the model reads it."""
    head = f"exit code {result['exit_code']} ({result['seconds']} s)"
    if result["note"]:
        head += f" [{result['note']}]"
    return f"{head}\n{result['output']}".rstrip("\n")
