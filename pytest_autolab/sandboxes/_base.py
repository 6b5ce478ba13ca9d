"""The sandbox interface shared by every backend."""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from ..tasks import Task

_Text = TypeVar("_Text", str, bytes)

__all__ = [
    "LABEL_EXPIRES",
    "LABEL_OWNER",
    "LABEL_ROLE",
    "LABEL_RUN",
    "LABEL_SESSION",
    "LABEL_TASK",
    "STARTUP_SLACK_S",
    "ExecResult",
    "OutputCap",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxUnavailable",
    "SnapshotError",
    "SnapshotLimits",
    "cap_output",
    "check_snapshot_path",
    "head_and_tail",
]

#: Default cap on what one exec returns of stdout and of stderr (head + tail kept).
DEFAULT_OUTPUT_LIMIT = 64 * 1024

#: The labels on everything a sandbox leaves (containers): which run, task and role
#: (agent | evaluate | verify) it served, so that leftovers can be found and swept.
LABEL_RUN = "autolab.run"
LABEL_TASK = "autolab.task"
LABEL_ROLE = "autolab.role"
#: Docker only: when the container's lifetime ends, and which harness process owns it.
LABEL_EXPIRES = "autolab.expires"
LABEL_OWNER = "autolab.owner"
#: Unique to the pytest session: the end of one session sweeps only its own (issue 14).
LABEL_SESSION = "autolab.session"

#: Seconds a task may take beyond its budgets for image builds, start-up and teardown: the
#: per-test timeout backstop and a Docker container's default lifetime both add it.
STARTUP_SLACK_S = 960.0


class SandboxError(Exception):
    """A sandbox could not do what was asked (start, exec, copy)."""


class SandboxUnavailable(SandboxError):
    """The backend cannot be used on this machine (no engine, missing tool)."""


class SnapshotError(SandboxError):
    """A file the agent left cannot be copied out safely (link, escape, size)."""


@dataclasses.dataclass(frozen=True)
class ExecResult:
    """The outcome of one command in a sandbox. ``exit_code`` is always known."""

    #: Exit status; 128+N when killed by signal N, -1 if it never started.
    exit_code: int
    #: Standard output, decoded (UTF-8, invalid bytes replaced), capped head+tail.
    stdout: str
    #: Standard error, decoded and capped like stdout.
    stderr: str
    #: Killed because it ran past its timeout.
    timed_out: bool = False
    #: Killed because it went past the sandbox's memory limit.
    oom_killed: bool = False
    #: Bytes dropped from the middle of stdout + stderr by the cap.
    truncated_bytes: int = 0
    #: Wall time of the command, seconds.
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout and stderr together, for assertion messages."""
        if self.stdout and self.stderr:
            return f"{self.stdout.rstrip()}\n{self.stderr}"
        return self.stdout or self.stderr

    def describe(self) -> str:
        """One line a person can read: what happened to the command."""
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f}s"
        if self.oom_killed:
            return "killed: out of memory"
        return f"exit code {self.exit_code}"


def head_and_tail(data: _Text, limit: int) -> tuple[_Text, _Text, int]:
    """The first and last ``limit // 2`` items of ``data`` and how many were cut between them;
    ``(data, empty, 0)`` when it fits. Every head-and-tail cut of output goes through here.

    >>> head_and_tail("abcdefgh", 4)
    ('ab', 'gh', 4)
    >>> head_and_tail(b"abc", 4)
    (b'abc', b'', 0)
    """
    if len(data) <= limit:
        return data, data[:0], 0
    half = limit // 2
    return data[:half], data[len(data) - half :], len(data) - 2 * half


def cap_output(data: bytes, limit: int = DEFAULT_OUTPUT_LIMIT) -> tuple[str, int]:
    """Keep the head and the tail of ``data`` within ``limit`` bytes; say what was cut."""
    head, tail, cut = head_and_tail(data, limit)
    if not cut:
        return head.decode("utf-8", "replace"), 0
    return (
        f"{head.decode('utf-8', 'replace')}\n[... {cut} bytes cut by autolab ...]\n{tail.decode('utf-8', 'replace')}",
        cut,
    )


class OutputCap:
    """Accumulates a stream keeping its first and last ``limit // 2`` bytes.

    Memory stays bounded however much a command prints; ``result()`` gives the
    same text and cut count as ``cap_output`` would on the whole stream.
    """

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.half:
                del self.tail[: len(self.tail) - self.half]

    def result(self) -> tuple[str, int]:
        tail = bytes(self.tail[-self.half :])
        cut = self.total - len(self.head) - len(tail)
        if cut <= 0:
            return (bytes(self.head) + tail).decode("utf-8", "replace"), 0
        head_text = bytes(self.head).decode("utf-8", "replace")
        tail_text = tail.decode("utf-8", "replace")
        return f"{head_text}\n[... {cut} bytes cut by autolab ...]\n{tail_text}", cut


@dataclasses.dataclass(frozen=True)
class SnapshotLimits:
    """Caps on what a snapshot may copy out of a sandbox."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024


def check_snapshot_path(rel: str) -> str:
    """Normalise a requested path; refuse absolute paths and ``..`` escapes."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise SnapshotError(f"refused path {rel!r}: only relative paths inside the app dir")
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise SnapshotError(f"refused path {rel!r}: it leaves the app dir")
    return norm


@runtime_checkable
class Sandbox(Protocol):
    """A running sandbox: one container, or one temporary directory."""

    #: Absolute path of the app dir inside the sandbox (``/app`` in Docker).
    workdir: str

    def exec(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run a command (a string goes to ``bash -c``) in the app dir."""
        ...

    def write_files(self, files: Mapping[str, bytes]) -> None:
        """Write files given relative to the app dir, creating folders."""
        ...

    def read_file(self, path: str, *, max_bytes: int = 16 * 1024 * 1024) -> bytes:
        """Read one regular file relative to the app dir (links refused)."""
        ...

    def snapshot(self, paths: Sequence[str], limits: SnapshotLimits = ...) -> dict[str, bytes]:
        """Copy out the given files, hardened: no links, no escapes, size-capped.

        Raises SnapshotError naming the offending file. A file that does not
        exist is left out of the result.
        """
        ...

    def close(self) -> None:
        """Stop the sandbox and free what it holds; safe to call twice."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class SandboxBackend(Protocol):
    """Creates sandboxes for tasks."""

    #: "local" or "docker".
    name: str
    #: Whether a hostile agent is contained (False for local).
    isolates: bool
    #: Containers an earlier harness that died left behind, removed when this backend started.
    orphans_removed: int
    # Optional: ``note`` (str or None), one line for the run's summary on what the backend
    # does or does not stop (both backends have one; the lab reads it where present).

    def prepare(self, task: Task) -> None:
        """Build or reuse what the task's sandboxes start from (its image)."""
        ...

    def start(
        self, task: Task, *, role: str, labels: Mapping[str, str], lifetime_s: float | None = None
    ) -> Sandbox:
        """Start a fresh sandbox from the pristine task environment.

        ``role`` is "agent", "evaluate" or "verify"; ``labels`` identify the run
        (run id, task) so that leftovers can be swept; after ``lifetime_s`` a
        backend may stop the sandbox by itself (a killed harness leaves nothing running).
        """
        ...

    def sweep(self, labels: Mapping[str, str]) -> int:
        """Remove leftovers carrying these labels; return how many were removed."""
        ...

    def close(self) -> None:
        """Release the backend's own resources (an engine connection); its sandboxes stay."""
        ...
