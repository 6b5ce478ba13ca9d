"""What the CLI agents (claude, codex) share: the MCP server, the process, the stream.

A CLI agent runs on the harness side, headless, in an empty temporary working
directory, with stdin closed and its own shell and file tools turned off; its
only tools are the lab tools, served by ``LabServer`` for this run. Its JSON
event stream is kept verbatim in the run directory and parsed as it arrives::

    <run>/<task>/agent/
      claude.jsonl | codex.jsonl     the raw stream (stdout), line by line
      stderr.txt                     the CLI's stderr
      tool_calls.jsonl               every lab tool call, journaled by the MCP server
      command.json                   the command line, the environment names set, the CLI used

The CLI is the ``executable`` option if given, else the first on PATH, else the
one an installed Python package bundles (``find_cli``); ``describe()`` says which
(path, where it was found, ``--version``), for run.json and command.json. The
process is stopped (SIGTERM, then SIGKILL) shortly after the deadline, and by
``cancel()``. A run that ends as ``done`` without one lab tool call is an
``AgentError``: the agent never worked on the task (its tools were refused or
never offered), which must not pass for a clean stop.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ._protocol import AgentContext, AgentError, AgentOutcome

__all__ = ["CLIAgent", "StreamParser", "cli_prompt", "find_cli"]

#: Seconds past the deadline before the CLI is told to stop (then killed 2 s later).
KILL_GRACE_S = 2.0
#: Characters of stderr quoted in an error.
STDERR_TAIL = 1500

PROMPT_FOOTER = """\

---
How this run works (pytest-autolab):
{briefing}
Your own shell and file tools are turned off and your working directory is empty: the task lives \
in a sandbox you reach only through the MCP tools of the "autolab" server: bash (runs in the \
task's app directory), read_file, write_file, evaluate (scores the editable files on public \
inputs; limited and recorded) and status (time and evaluations left). Every tool result ends with \
the time and evaluations left. Whatever the editable files hold when you stop, or at the deadline, \
is scored. When you are done, stop with a short summary."""


def cli_prompt(ctx: AgentContext) -> str:
    """The task instruction, verbatim, and how the run works."""
    return ctx.instruction.rstrip() + "\n" + PROMPT_FOOTER.format(briefing=ctx.tools.briefing())


def find_cli(
    executable: str | None, default: str, *, package: str = "", bundled: str = ""
) -> dict[str, str] | None:
    """Where the CLI is: ``{"path": ..., "found": ...}``, or None.

    ``executable`` (an option) is looked up as given; without it ``default`` is looked up
    on PATH, then ``bundled`` (a path relative to the folder of the import package
    ``package``, e.g. a wheel that ships the binary). ``found`` says which, in words.
    """
    if executable:
        path = shutil.which(executable)
        return None if path is None else {"path": path, "found": "the executable option"}
    path = shutil.which(default)
    if path is not None:
        return {"path": path, "found": "PATH"}
    if not (package and bundled):
        return None
    try:
        spec = importlib.util.find_spec(package)  # finds it without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / bundled
        if candidate.is_file() and os.access(candidate, os.X_OK):
            # The distribution that installed the import package (openai-codex-cli-bin for
            # codex_cli_bin), with its version.
            names = importlib.metadata.packages_distributions().get(package) or [package.replace("_", "-")]
            distribution = names[0]
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                distribution += " " + importlib.metadata.version(distribution)
            return {"path": str(candidate), "found": f"bundled with the Python package {distribution}"}
    return None


class StreamParser:
    """Reads a CLI's JSON events; subclasses fill ``usage`` and decide the outcome."""

    def __init__(self) -> None:
        #: Events that were not JSON objects (kept in the raw log, counted here).
        self.garbage = 0
        #: The last error message the stream reported.
        self.error = ""
        #: An error no retry will mend (a refused key), set by ``feed``: the harness stops
        #: the CLI at once; the run is an AgentError with this message, or, after some lab
        #: tool calls, a stop (``error``) whose files are scored.
        self.fatal = ""

    def feed_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.garbage += 1
            return
        if isinstance(event, dict):
            self.feed(event)
        else:
            self.garbage += 1

    def feed(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def collect(self, home: Path) -> None:
        """Read what the CLI left in its home that the stream lacks, before the home is
        deleted (Claude Code: the final token counts of a killed CLI's messages)."""

    def unserved_calls(self) -> str:
        """Lab tool calls the stream shows that never reached the MCP server (refused by the
        CLI), in a few words for the error of a run that made no lab call; "" if none."""
        return ""

    def outcome(self, *, returncode: int | None, stopped: str | None, stderr: str) -> AgentOutcome:
        """What the stream said, once the process is gone.

        ``stopped``: why the harness stopped the process ("budget", "cancelled"), or None.
        Raises AgentError when the CLI failed before doing anything.
        """
        raise NotImplementedError


class CLIAgent:
    """Runs a headless coding-agent CLI against the lab tools' MCP server."""

    #: Agent name (``--autolab-agent``).
    name = ""
    #: The product, in messages.
    product = ""
    #: How to install the CLI, in the missing-CLI error.
    install = ""
    #: Raw stream file name in the log dir.
    stream_file = ""
    #: The CLI's command name on PATH.
    command_name = ""
    #: An import package that may bundle the CLI, and the binary's path inside it.
    package = ""
    bundled = ""

    def __init__(self, executable: str | None) -> None:
        found = find_cli(executable, self.command_name, package=self.package, bundled=self.bundled)
        if found is None:
            name = executable or self.command_name
            where = "is not on PATH" if executable else f"is neither on PATH nor bundled by {self.package}"
            raise AgentError(
                f"the {self.product} CLI ({name!r}) {where}: install it with `{self.install}`, "
                f"or name it with --autolab-agent-option executable=/path/to/{Path(name).name}"
            )
        self.executable = found["path"]
        #: Which CLI this agent runs: path, where it was found, and (after check()) its version.
        self.cli: dict[str, str] = dict(found)
        self._launch = _Launch()

    def describe(self) -> dict[str, Any]:
        """What run.json and command.json record of this agent: the CLI (path, where it was
        found, version), and its settings."""
        if "version" not in self.cli:
            with contextlib.suppress(AgentError):
                self.check()
        return {"cli": dict(self.cli), **self.settings_note()}

    def settings_note(self) -> dict[str, Any]:
        """Settings worth recording beside the command line (a custom endpoint ...)."""
        return {}

    def check(self) -> None:
        """Preflight, once per session: the CLI starts (``--version``), so that a broken
        install fails the session in one line instead of every task (issue 7)."""
        try:
            done = subprocess.run(
                [self.executable, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AgentError(f"the {self.product} CLI ({self.executable}) does not start: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[-300:]
            raise AgentError(
                f"the {self.product} CLI ({self.executable}) does not start: `{Path(self.executable).name} "
                f"--version` exited {done.returncode}{': ' + tail if tail else ''}"
            )
        self.cli["version"] = done.stdout.decode("utf-8", "replace").strip()[:200]

    # -- to be provided by each CLI ------------------------------------------------------------

    def command(
        self, prompt: str, *, server_url: str, home: Path, workdir: Path, ctx: AgentContext
    ) -> list[str]:
        raise NotImplementedError

    def environment(
        self, *, server_token: str, server_url: str, home: Path, ctx: AgentContext
    ) -> dict[str, str]:
        raise NotImplementedError

    def parser(self) -> StreamParser:
        raise NotImplementedError

    def after(self, *, home: Path, ctx: AgentContext) -> None:
        """Collect what the CLI left in its home (session files) into the log dir."""

    # -- the run -----------------------------------------------------------------------------

    def run(self, ctx: AgentContext) -> AgentOutcome:
        from .mcp_server import LabServer

        log_dir = Path(ctx.log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        launch = self._launch = _Launch()  # one per run: the agent object serves every task
        with tempfile.TemporaryDirectory(prefix=f"autolab-{self.name}-") as tmp:
            home, workdir = Path(tmp) / "home", Path(tmp) / "work"
            home.mkdir()
            workdir.mkdir()
            with LabServer(ctx.tools, journal=log_dir / "tool_calls.jsonl") as server:
                argv = self.command(
                    cli_prompt(ctx), server_url=server.url, home=home, workdir=workdir, ctx=ctx
                )
                env = self.environment(server_token=server.token, server_url=server.url, home=home, ctx=ctx)
                self._write_command(log_dir, argv, env)
                parser = self.parser()
                returncode, stderr = self._execute(launch, argv, env, workdir, ctx, parser)
            with contextlib.suppress(OSError):  # session files are a bonus; the stream is the record
                self.after(home=home, ctx=ctx)
            with contextlib.suppress(OSError):
                parser.collect(home)
        if parser.fatal and not server.calls:
            tail = f"; stderr: {stderr.strip()[-800:]}" if stderr.strip() else ""
            raise AgentError(f"{self.product} stopped at once: {parser.fatal}{tail}")
        outcome = parser.outcome(returncode=returncode, stopped=launch.stopped, stderr=stderr)
        if parser.fatal:  # after some work: a stop, and the files are scored
            outcome.stop_reason, outcome.message = "error", parser.fatal
        outcome.usage.setdefault("tool_calls", dict(server.calls))
        if outcome.stop_reason == "done" and not server.calls:
            seen = parser.unserved_calls()
            raise AgentError(
                f"{self.product} stopped without calling a lab tool (no call reached the autolab MCP "
                f"server: its tools were refused or not offered{'; ' + seen if seen else ''}); its "
                f"last message: {outcome.message.strip()[:300]!r}; see agent/{self.stream_file}"
            )
        return outcome

    def _write_command(self, log_dir: Path, argv: list[str], env: Mapping[str, str]) -> None:
        # The values of the environment may hold keys: only the names we set are written.
        ours = sorted(k for k, v in env.items() if os.environ.get(k) != v)
        document = {
            "argv": [*argv[:-1], "<prompt>"],
            "env_set": ours,
            "cwd": "<empty temporary directory>",
            **self.describe(),
        }
        (log_dir / "command.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def _execute(
        self,
        launch: _Launch,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        ctx: AgentContext,
        parser: StreamParser,
    ) -> tuple[int | None, str]:
        log_dir = Path(ctx.log_dir)
        stderr_path = log_dir / "stderr.txt"
        with (
            stderr_path.open("wb") as stderr_file,
            (log_dir / self.stream_file).open("w", encoding="utf-8") as raw,
        ):
            with launch.lock:
                if launch.stopped == "cancelled":
                    return None, ""
                launch.proc = proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr_file,
                    start_new_session=True,  # its own process group: node and its children go together
                )
            watchdog = threading.Thread(target=launch.watch, args=(ctx.budget.deadline,), daemon=True)
            watchdog.start()
            assert proc.stdout is not None
            with proc.stdout:  # closed here, not left to the garbage collector
                self._pump(proc.stdout, raw, parser, launch)
            returncode = proc.wait()
        stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
        return returncode, stderr[-STDERR_TAIL:]

    @staticmethod
    def _pump(stdout: IO[bytes], raw: IO[str], parser: StreamParser, launch: _Launch) -> None:
        for data in iter(stdout.readline, b""):
            line = data.decode("utf-8", "replace")
            raw.write(line if line.endswith("\n") else line + "\n")
            raw.flush()
            parser.feed_line(line)
            if parser.fatal and launch.stopped is None:
                # Stopped from another thread: this one keeps reading until the pipe closes.
                threading.Thread(target=launch.stop, args=("fatal",), daemon=True).start()

    def cancel(self) -> None:
        """Kill the CLI (the lab calls this when the run overstays its budget)."""
        self._launch.stop("cancelled")


class _Launch:
    """One run's process, and why the harness stopped it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        #: "budget", "cancelled" or "fatal" (see StreamParser.fatal) once the harness stopped it.
        self.stopped: str | None = None

    def watch(self, deadline: float) -> None:
        """Stop the CLI shortly after the deadline (runs in its own thread)."""
        while self.proc is not None and self.proc.poll() is None:
            if time.monotonic() > deadline + KILL_GRACE_S:
                self.stop("budget")
                return
            time.sleep(0.2)

    def stop(self, why: str) -> None:
        """SIGTERM to the process group, SIGKILL if it lingers."""
        with self.lock:
            if self.stopped is None:
                self.stopped = why
            proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder of session files into the log dir, if it exists."""
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
