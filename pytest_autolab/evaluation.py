"""evaluate(): the task's own verifier on a snapshot, with PUBLIC inputs.

The verifier module runs in a separate pytest process in "evaluate mode"
(``--autolab-evaluate=<snapshot dir>``): its ``submission`` fixture starts a
scratch sandbox from the pristine task environment, puts the snapshot in and
uses the task's public seed. The inner session writes its verdict as JSON.
A separate process keeps the verifier's imports, Hypothesis state and any
crash away from the harness.

That process is forked from a warm fork server (``_forkserver.py``) when it can
be, which saves the second or more that starting Python, pytest and the
verifier's imports takes; otherwise it is a plain ``python -m pytest`` child.
Set AUTOLAB_EVALUATE_FORK=0 to always use a plain child. Overhead figures:
benchmarks/evaluate_overhead.py.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .results import TaskResult, write_files
from .tasks import Task

__all__ = ["Evaluation", "ForkServer", "run_verifier"]

#: Seconds added to the verifier's own timeout for the inner pytest to start and stop.
STARTUP_GRACE_S = 60.0
#: Seconds an interrupted inner pytest gets to close its sandboxes before it is killed.
INTERRUPT_GRACE_S = 2.0


@dataclasses.dataclass
class Evaluation:
    """The verdict of one evaluate() call."""

    #: scored | incorrect | no_metric | error
    status: str
    correct: bool
    metric: float | None
    n: float | None
    reward: float
    #: Failing tests, "test name: message" (trimmed).
    failures: list[str]
    #: Harness-side problem (the verifier could not run), else "".
    error: str
    #: Wall time of the whole evaluation, seconds.
    duration_s: float
    speedup: float | None = None
    #: A timed metric's measurement, in short: the raw speedup, its interval, the clock.
    timing: dict[str, Any] | None = None
    #: What the verifier recorded about its measurement (``record_metric(..., details=)``):
    #: a count's tool, per-category accuracy, per-phase scores. Shown to the agent, so a verifier
    #: puts nothing there that it would not print in a failure message.
    details: dict[str, Any] | None = None

    def failure_digest(self) -> str:
        """The first failure (or error) in a line, for the ledger."""
        text = self.error or (self.failures[0] if self.failures else "")
        return text.splitlines()[0][:300] if text else ""

    def for_agent(self) -> dict[str, Any]:
        """What the agent is told: enough to iterate, nothing about hidden inputs."""
        return {
            "correct": self.correct,
            "status": self.status,
            "metric": self.metric,
            "normalized_score": None if self.n is None else round(self.n, 4),
            "reward": round(self.reward, 4),
            "speedup": self.speedup,
            "failures": [f[:1500] for f in self.failures[:5]],
            "error": self.error[:1500],
            "seconds": round(self.duration_s, 2),
            **({"timing": self.timing} if self.timing else {}),
            **({"details": _shown(self.details)} if self.details and not self.timing else {}),
        }

    @classmethod
    def from_result(cls, result: TaskResult, duration_s: float) -> Evaluation:
        return cls(
            status=result.status,
            correct=result.correct,
            metric=result.metric,
            n=result.n,
            reward=result.reward,
            failures=list(result.failures),
            error=result.reason if result.status in ("error", "incomplete") else "",
            duration_s=duration_s,
            speedup=result.speedup if isinstance(result.speedup, float) else None,
            timing=_timing_digest(result.details),
            details=result.details,
        )

    @classmethod
    def failed(cls, error: str, duration_s: float) -> Evaluation:
        return cls("error", False, None, None, 0.0, [], error, duration_s)


#: Plugins the inner run leaves out: it runs one module in one process.
SKIPPED_PLUGINS = frozenset({"xdist", "xdist.looponfail", "autolab"})


@functools.cache
def installed_plugins() -> tuple[str, ...]:
    """Names of the installed pytest11 entry points the inner run loads, ours excepted."""
    names = {ep.name for ep in entry_points(group="pytest11")}
    return tuple(sorted(names - SKIPPED_PLUGINS))


def verifier_command(
    task: Task,
    snapshot_dir: Path,
    out_file: Path,
    *,
    sandbox: str,
    run_id: str,
    session: str = "",
    seed: int | None = None,
    run_dir: Path | None = None,
) -> list[str]:
    """The inner pytest command line of one evaluation.

    It runs with plugin autoloading off (see ``verifier_environment``) and names
    every installed plugin instead: the same plugins as a normal run, but pytest
    does not mark their whole distributions (all of Hypothesis, ...) for assertion
    rewriting, which costs seconds per call where bytecode is not cached
    (PYTHONDONTWRITEBYTECODE, read-only site-packages).
    """
    plugins = ["-p", "pytest_autolab.plugin"]
    for name in installed_plugins():
        plugins += ["-p", name]
    return [
        sys.executable, "-m", "pytest", str(task.verifier_path),
        "-q", "--no-header", "-p", "no:cacheprovider", *plugins,
        "-o", "addopts=",
        f"--rootdir={task.path}",
        f"--autolab-evaluate={snapshot_dir}",
        f"--autolab-evaluate-out={out_file}",
        f"--autolab-sandbox={sandbox}",
        f"--autolab-run-id={run_id}",
        *([f"--autolab-session={session}"] if session else []),
        # Forked from the warm server, the plugins are imported before pytest could rewrite them.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        *([f"--autolab-evaluate-seed={seed}"] if seed is not None else []),
        # The run directory, so that the scratch sandbox hides it too (local backend).
        *([f"--autolab-run-dir={run_dir}"] if run_dir is not None else []),
    ]  # fmt: skip


def verifier_environment() -> dict[str, str]:
    """The inner run's environment: ours, without xdist's and addopts, plugin autoloading off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def run_verifier(
    task: Task,
    files: Mapping[str, bytes],
    *,
    scratch: Path,
    sandbox: str,
    run_id: str,
    session: str = "",
    timeout: float | None = None,
    limit_s: float | None = None,
    seed: int | None = None,
    run_dir: Path | None = None,
) -> Evaluation:
    """Run the task's verifier on ``files`` with public inputs; never raises for its failures.

    ``timeout`` replaces the task's verifier timeout (start-up grace added);
    ``limit_s`` is a hard cap on top of that: the agent's deadline; ``seed`` replaces
    the public seed (the validation mode, and the harness's re-verification of the
    loop's improvements, pass the hidden one).
    """
    start = time.monotonic()
    snapshot_dir = scratch / "snapshot"
    write_files(snapshot_dir, files)
    out_file = scratch / "evaluation.json"
    command = verifier_command(
        task,
        snapshot_dir,
        out_file,
        sandbox=sandbox,
        run_id=run_id,
        session=session,
        seed=seed,
        run_dir=run_dir,
    )
    limit = (timeout or task.verifier_timeout_s) + STARTUP_GRACE_S
    cut_by_deadline = limit_s is not None and limit_s < limit
    if limit_s is not None:
        limit = min(limit, max(limit_s, 0.1))
    log = scratch / "pytest.log"
    server = fork_server()
    ran = server.run(command[3:], cwd=task.path, log=log, limit=limit) if server is not None else None
    returncode, timed_out = (
        ran if ran is not None else _run_child(command, cwd=task.path, log=log, limit=limit)
    )
    duration = time.monotonic() - start
    if timed_out:
        if cut_by_deadline:
            return Evaluation.failed(
                f"the deadline came {limit:.0f} s into the evaluation: it was cut", duration
            )
        return Evaluation.failed(f"the verifier ran past {limit:.0f} s", duration)
    try:
        data = json.loads(out_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = log.read_bytes().decode("utf-8", "replace")[-2000:]
        return Evaluation.failed(
            f"the verifier wrote no verdict (pytest exit {returncode}):\n{tail}", duration
        )
    return Evaluation.from_result(TaskResult.from_json(data), duration)


def _run_child(command: list[str], *, cwd: Path, log: Path, limit: float) -> tuple[int | None, bool]:
    """The inner pytest as a plain child process: (exit code, timed out)."""
    with log.open("wb") as output:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=verifier_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            _interrupt(proc)
            return None, True
        except BaseException:  # Ctrl-C or a crash of the harness: the inner run must not outlive it
            _interrupt(proc)
            raise


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Stop an inner pytest that ran out of time: Ctrl-C first, so that its fixtures close
    their sandboxes, then a kill of its whole process group."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=INTERRUPT_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _ServerGone(Exception):
    """The fork server exited or stopped answering."""


class ForkServer:
    """The harness's side of ``_forkserver``: start it once, fork an inner pytest per evaluation.

    One evaluation at a time; ``run`` returns None when the server is busy or
    broken, and the caller falls back to a plain child process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        #: Set once the server failed: no more tries in this process.
        self.broken = False

    def run(self, args: list[str], *, cwd: Path, log: Path, limit: float) -> tuple[int | None, bool] | None:
        """Run ``pytest args`` in a fork: (exit code, timed out), or None to fall back."""
        if self.broken or not self._lock.acquire(blocking=False):
            return None
        try:
            try:
                self._ensure_started()
                self._send({"args": args, "cwd": str(cwd), "log": str(log)})
                pid = int(self._receive(timeout=30.0)["pid"])
            except (_ServerGone, OSError, ValueError, KeyError):
                self._give_up()
                return None
            try:
                return int(self._receive(timeout=limit)["exit"]), False
            except TimeoutError:
                self._stop(pid)
                return None, True
            except (_ServerGone, ValueError, KeyError):
                # The server died under the evaluation (killed, out of memory): stop what it
                # forked and let the caller run the evaluation again in a plain child.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                self._give_up()
                return None
            except BaseException:  # Ctrl-C in the harness: the evaluation must not outlive it
                self._stop(pid)
                raise
        finally:
            self._lock.release()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()  # a dead server's pipes, closed now rather than by the garbage collector
        self._buffer = b""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_autolab._forkserver"],
            env=verifier_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's Ctrl-C goes to the harness, which stops it
        )
        if not self._receive(timeout=120.0).get("ready"):
            raise _ServerGone("the fork server did not get ready")

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps(message) + "\n").encode())
        self._proc.stdin.flush()

    def _receive(self, timeout: float) -> dict[str, Any]:
        """The server's next line; TimeoutError after ``timeout`` s, _ServerGone at its end."""
        assert self._proc is not None
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _ServerGone("the fork server exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise _ServerGone(f"the fork server said {line[:100]!r}")
        return message

    def _stop(self, pid: int) -> None:
        """Stop an evaluation past its limit: Ctrl-C (its fixtures close their sandboxes), then a kill."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
        try:
            self._receive(timeout=INTERRUPT_GRACE_S)
            return
        except TimeoutError:
            pass
        except (_ServerGone, ValueError):
            self._give_up()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        try:
            self._receive(timeout=10.0)
        except (TimeoutError, _ServerGone, ValueError):
            self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        self.close()

    def close(self) -> None:
        """Stop the server (it exits when its stdin closes)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


_SERVER: ForkServer | None = None
_SERVER_LOCK = threading.Lock()


def fork_server() -> ForkServer | None:
    """This process's fork server (started on first use), or None where it cannot or should not run."""
    global _SERVER
    if not hasattr(os, "fork") or os.environ.get("AUTOLAB_EVALUATE_FORK", "1") == "0":
        return None
    with _SERVER_LOCK:
        if _SERVER is None:
            _SERVER = ForkServer()
            atexit.register(_SERVER.close)
        return _SERVER


#: The most characters of ``details`` (as JSON) an evaluate() answer carries.
DETAILS_SHOWN_CHARS = 4000


def _shown(details: dict[str, Any]) -> dict[str, Any] | str:
    """``details`` as the agent sees them: whole when short, else a note of what was left out."""
    text = json.dumps(details, sort_keys=True)
    if len(text) <= DETAILS_SHOWN_CHARS:
        return details
    return f"({len(text)} characters of details left out; keys: {', '.join(sorted(details))[:500]})"


def _timing_digest(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an agent needs of a timed measurement: the speedup before the significance rule."""
    if not details or details.get("kind") != "timed_speedup":
        return None
    keys = ("speedup", "low", "high", "significant", "clock", "rounds")
    return {k: round(details[k], 4) if isinstance(details.get(k), float) else details.get(k) for k in keys}
