"""The Docker backend: one hardened container per sandbox, on the docker SDK.

::

    backend = DockerBackend(run_id="20250101-120000-abc123")  # pings the engine, sweeps orphans
    backend.prepare(task)                 # base image + task image, each built once
    sandbox = backend.start(task, role="agent", labels={"autolab.run": ..., ...})
    sandbox.exec("make && ./attn", timeout=60)   # streamed, capped, really stopped
    sandbox.snapshot(task.editable)       # hardened copy-out of the editable files
    sandbox.close()                       # the container is removed

A container runs ``sleep <lifetime>`` under docker-init with the task's CPU
and memory limits (no swap), a pids limit, no network unless the task allows
it, no new privileges and no capabilities. Its lifetime ends by itself, so a
harness killed with SIGKILL leaves nothing running for long, and the next
backend that starts removes what a dead harness left (see ``sweep_orphans``).

Labels on every container::

    autolab.run=<run id>  autolab.session=<session>  autolab.task=<task>  autolab.role=agent|evaluate|verify
    autolab.expires=<unix time the main process ends>
    autolab.owner=<hostname>:<pid>:<process start ticks>   the harness process
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import posixpath
import secrets
import select
import socket
import sys
import tarfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from ._base import (
    DEFAULT_OUTPUT_LIMIT,
    LABEL_EXPIRES,
    LABEL_OWNER,
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_SESSION,
    LABEL_TASK,
    STARTUP_SLACK_S,
    ExecResult,
    OutputCap,
    SandboxError,
    SandboxUnavailable,
    SnapshotError,
    SnapshotLimits,
    check_snapshot_path,
)
from .images import (
    Progress,
    base_image_unavailable,
    ensure_base_image,
    ensure_task_image,
    task_repository,
)

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = ["DockerBackend", "DockerSandbox", "connect", "sweep_orphans"]

APP_DIR = "/app"
#: Processes (threads count too) a sandbox may hold: enough for make -j and a test
#: runner, few enough that a fork bomb stops there.
PIDS_LIMIT = 512
#: Seconds past an exec's timeout before the harness kills what ``timeout`` missed.
KILL_GRACE_S = 1.0
#: Seconds to wait for an exec's stream to end after that kill, before giving up on it.
STOP_WAIT_S = 5.0
#: Seconds of every ordinary engine call (builds and imports have none).
API_TIMEOUT_S = 120
#: A container created but never started is an orphan after this long.
CREATED_GRACE_S = 600
#: Environment variable that marks every process of one exec (see ``_kill_exec``).
EXEC_MARK = "AUTOLAB_EXEC"
SANDBOX_ENV = {"HOME": "/root", "AUTOLAB_APP": APP_DIR}

DEFAULT_LIMITS = SnapshotLimits()


# Go's os.FileMode type bits, as the engine reports them in a path stat.
_GO_MODE_TYPES = {
    1 << 31: "a folder",
    1 << 27: "a symbolic link",
    1 << 26: "a device",
    1 << 25: "a named pipe",
    1 << 24: "a socket",
    1 << 21: "a character device",
    1 << 19: "not a regular file",
}

# Runs in the sandbox: one line per path saying what it is, without following links.
_STAT_SCRIPT = r"""
for rel in "$@"; do
  bad=""; dir=/app
  [ -L /app ] && bad=/app
  IFS=/ read -ra parts <<< "$rel"
  for part in "${parts[@]:0:${#parts[@]}-1}"; do
    [ -n "$bad" ] && break
    dir="$dir/$part"; [ -L "$dir" ] && bad="$dir"
  done
  path="/app/$rel"
  if [ -n "$bad" ]; then printf 'parentlink %s\n' "$bad"
  elif [ -L "$path" ]; then echo link
  elif [ ! -e "$path" ]; then echo missing
  elif [ -d "$path" ]; then echo folder
  elif [ ! -f "$path" ]; then echo special
  else stat --printf 'file %h %s\n' -- "$path"
  fi
done
"""

# Runs in the sandbox: SIGKILL every process whose environment carries the mark,
# including those that left the command's process group.
_KILL_SCRIPT = r"""
for round in 1 2 3; do
  for proc in /proc/[0-9]*; do
    while IFS= read -r -d '' entry; do
      if [ "$entry" = "AUTOLAB_EXEC=$1" ]; then kill -9 "${proc#/proc/}" 2>/dev/null; break; fi
    done < "$proc/environ" 2>/dev/null
  done
done
"""


def _stderr_progress(message: str) -> None:
    stream = sys.__stderr__
    if stream is not None:
        stream.write(f"autolab: {message}\n")
        stream.flush()


def _short(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _root_cause(exc: BaseException) -> str:
    """The innermost OS error of a connection failure ("No such file or directory"),
    else the exception's first line."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
        pending.extend([item.__cause__, item.__context__, *item.args])
    return _short(exc)


def connect(timeout: int = API_TIMEOUT_S) -> Any:
    """A docker client for $DOCKER_HOST (or the default socket) whose engine answered a ping.

    Raises SandboxUnavailable with one line naming the engine and the reason.
    """
    try:
        import docker
        import requests
    except ImportError as exc:
        raise SandboxUnavailable(f"the docker Python package is missing ({exc}): pip install docker") from exc
    host = os.environ.get("DOCKER_HOST") or "the default socket"
    client = None
    reason = ""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        reason = _root_cause(exc)
    if not reason:
        return client
    if client is not None:
        client.close()
    client = None
    # docker-py leaves the socket of a failed connection unclosed, referenced from the
    # exception's frames: collect it here, where its ResourceWarning is known and
    # harmless, rather than at an arbitrary later point (where -W error turns it into
    # a failure of whatever runs then).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise SandboxUnavailable(f"cannot reach a Docker engine at {host}: {reason}")


# --- who owns a container: a process on this host, alive or not --------------------------------


def _start_ticks(pid: int) -> str:
    """The start time of a process (clock ticks since boot), which a reused pid does not share."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def owner_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(token: str) -> bool | None:
    """Whether the process that made a container still runs; None when it cannot be told
    (another host, or a label we did not write)."""
    host, _, rest = token.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if ticks and Path("/proc").is_dir():
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_orphan(labels: Mapping[str, str], state: str, created: float, now: float) -> bool:
    """The sweep's rule: a container of a live harness is never an orphan; one whose
    owner is dead always is; else (another host) it is once expired or stopped."""
    alive = owner_alive(labels.get(LABEL_OWNER, ""))
    if alive is True:
        return False
    if alive is False:
        return True
    try:
        expired = float(labels.get(LABEL_EXPIRES, "inf")) < now
    except ValueError:
        expired = False
    if state == "created":
        return expired or now - created > CREATED_GRACE_S
    return expired or state in ("exited", "dead")


def _remove(client: Any, container_id: str) -> bool:
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # removal already in progress
            return False
        raise
    return True


def sweep_orphans(client: Any, *, now: float | None = None) -> int:
    """Remove autolab containers left by harnesses that are gone; return how many."""
    now = time.time() if now is None else now
    removed = 0
    for info in client.api.containers(all=True, filters={"label": LABEL_RUN}):
        if _is_orphan(info.get("Labels") or {}, info.get("State", ""), float(info.get("Created", now)), now):
            removed += _remove(client, info["Id"])
    return removed


def sweep_labelled(client: Any, labels: Mapping[str, str]) -> int:
    """Remove every container carrying all of ``labels`` (running or not)."""
    filters = {"label": [f"{key}={value}" for key, value in labels.items()] or [LABEL_RUN]}
    return sum(_remove(client, info["Id"]) for info in client.api.containers(all=True, filters=filters))


# --- copy-out ----------------------------------------------------------------------------------


class _LimitedReader(io.RawIOBase):
    """A read-only stream that refuses to deliver more than ``limit`` bytes."""

    def __init__(self, raw: IO[bytes], limit: int, what: str) -> None:
        self.raw = raw
        self.left = limit
        self.what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise SnapshotError(f"refused {self.what}: the archive is larger than announced")
        view = memoryview(buffer)[: min(len(buffer), self.left)]
        data = self.raw.read(len(view))
        if not data:
            return 0
        view[: len(data)] = data
        self.left -= len(data)
        return len(data)


def read_single_file_archive(stream: IO[bytes], rel: str, max_bytes: int) -> bytes:
    """The one regular file of a tar stream from the engine, checked member by member.

    The stream is read only as far as needed: a member over ``max_bytes`` is refused
    from its header, before its data is read. Links, devices, folders, absolute or
    ``..`` names, a name other than ``rel``'s, and extra members are all refused.
    """
    expected = posixpath.basename(rel)
    limited = _LimitedReader(stream, max_bytes + 64 * 1024, repr(rel))
    try:
        with tarfile.open(fileobj=limited, mode="r|") as tar:  # type: ignore[call-overload]
            member = tar.next()
            if member is None:
                raise SnapshotError(f"refused {rel!r}: the engine sent an empty archive")
            name = member.name
            if name.startswith("/") or ".." in name.split("/") or name != expected:
                raise SnapshotError(f"refused {rel!r}: the archive holds {name!r}, not {expected!r}")
            if member.issym():
                raise SnapshotError(f"refused {rel!r}: it is a symbolic link (to {member.linkname!r})")
            if member.islnk():
                raise SnapshotError(f"refused {rel!r}: it is a hard link (to {member.linkname!r})")
            if not member.isreg():
                raise SnapshotError(f"refused {rel!r}: not a regular file")
            if member.size > max_bytes:
                raise SnapshotError(
                    f"refused {rel!r}: {member.size} bytes is over the {max_bytes}-byte limit"
                )
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read(member.size + 1)
            if len(data) != member.size:
                raise SnapshotError(f"refused {rel!r}: the archive is truncated")
            if tar.next() is not None:
                raise SnapshotError(f"refused {rel!r}: the archive holds more than one file")
            return data
    except tarfile.TarError as exc:
        raise SnapshotError(f"refused {rel!r}: the engine's archive is not readable ({exc})") from exc


# --- the sandbox -------------------------------------------------------------------------------


class DockerSandbox:
    """One running container; every call goes through the engine's API."""

    workdir = APP_DIR

    def __init__(
        self, backend: DockerBackend, container_id: str, name: str, task: Task, lifetime_s: float
    ) -> None:
        self.backend = backend
        self.client = backend.client
        self.container_id = container_id
        self.name = name
        self.task = task
        self.lifetime_s = lifetime_s
        self._closed = False
        self._oom_kills = 0
        # Files written back keep the mode they have in environment/ (the local
        # backend overwrites in place, which keeps it too).
        self._modes = {rel: path.stat().st_mode & 0o777 for rel, path in task.environment_files()}

    # -- engine errors -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"sandbox {self.name} is closed")

    def _state(self) -> tuple[str, str]:
        """("running" | "stopped" | "gone" | "lost", why it cannot run commands)."""
        import docker.errors

        try:
            state = self.client.api.inspect_container(self.container_id)["State"]
        except docker.errors.NotFound:
            return "gone", f"the container {self.name} is gone (removed from outside the harness)"
        except Exception as exc:  # any failure here means the engine is unusable
            return "lost", f"lost the Docker engine ({_short(exc)})"
        if state.get("Running") and not state.get("Paused"):
            return "running", ""
        status = state.get("Status", "stopped")
        return "stopped", (
            f"the container {self.name} is {status} (its lifetime of {self.lifetime_s:.0f} s ran out, "
            f"or it was stopped from outside); start a new sandbox"
        )

    def _not_running_reason(self) -> str | None:
        """Why the container cannot run commands, or None if it can."""
        state, reason = self._state()
        return None if state == "running" else reason

    def _engine_error(self, action: str, exc: BaseException) -> SandboxError:
        reason = self._not_running_reason()
        return SandboxError(f"{action} in {self.name} failed: {reason or _short(exc)}")

    # -- commands -------------------------------------------------------------------------------

    def exec(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> ExecResult:
        self._check_open()
        result = self._exec(command, timeout=timeout, stdin=stdin, env=env, output_limit=output_limit)
        if result.exit_code not in (0, -1):
            # The memory cgroup counts OOM kills; one during this command means it hit the limit.
            kills = self._read_oom_kills()
            if kills is not None and kills > self._oom_kills:
                self._oom_kills = kills
                return _replace(result, oom_killed=True, timed_out=False)
        return result

    def _exec(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None,
        stdin: bytes | None,
        env: Mapping[str, str] | None,
        output_limit: int,
    ) -> ExecResult:
        import docker.errors
        import requests

        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        if not argv:
            raise ValueError("exec: empty command")
        mark = secrets.token_hex(8)
        if timeout is not None:
            # timeout(1) puts the command in its own process group and SIGKILLs the group.
            argv_run = ["timeout", "-s", "KILL", f"{max(timeout, 0.001):.3f}", *argv]
        else:
            argv_run = argv
        environment = {**SANDBOX_ENV, **(env or {}), EXEC_MARK: mark}
        api = self.client.api
        start = time.monotonic()
        try:
            exec_id = api.exec_create(
                self.container_id,
                argv_run,
                stdout=True,
                stderr=True,
                stdin=stdin is not None,
                environment=environment,
                workdir=APP_DIR,
            )["Id"]
            sock = api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:
            reason = self._not_running_reason()
            if reason is not None:
                raise SandboxError(f"cannot run a command in {self.name}: {reason}") from exc
            return ExecResult(-1, "", f"could not start {argv[0]!r}: {_short(exc)}", duration_s=0.0)
        except requests.RequestException as exc:
            raise self._engine_error("running a command", exc) from exc

        stdout, stderr = OutputCap(output_limit), OutputCap(output_limit)
        deadline = None if timeout is None else start + timeout + KILL_GRACE_S
        try:
            ended = self._pump(sock, stdin, stdout, stderr, deadline, mark)
            code = self._exit_code(exec_id, None if ended else time.monotonic() + STOP_WAIT_S)
        except (requests.RequestException, docker.errors.APIError, OSError) as exc:
            raise self._engine_error("running a command", exc) from exc
        elapsed = time.monotonic() - start
        if code is None:  # still running after every kill: report it as stopped, it is abandoned
            code = 128 + 9
            stderr.feed(b"\n[autolab: the command did not stop after SIGKILL; abandoned]\n")
        timed_out = timeout is not None and (not ended or (code == 128 + 9 and elapsed >= timeout))
        out, out_cut = stdout.result()
        err, err_cut = stderr.result()
        return ExecResult(
            exit_code=code,
            stdout=out,
            stderr=err,
            timed_out=timed_out,
            truncated_bytes=out_cut + err_cut,
            duration_s=elapsed,
        )

    def _pump(
        self,
        sock: Any,
        stdin: bytes | None,
        stdout: OutputCap,
        stderr: OutputCap,
        deadline: float | None,
        mark: str,
    ) -> bool:
        """Demultiplex the exec's stream into the caps until it ends (True) or, past the
        deadline and a kill, gives up (False). Never blocks past the deadline."""
        raw = getattr(sock, "_sock", sock)  # the socket behind the SDK's SocketIO
        writer = None
        if stdin is not None:
            writer = threading.Thread(target=_feed_stdin, args=(raw, stdin), daemon=True)
            writer.start()
        buffer = bytearray()
        killed = False
        try:
            while True:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    if killed:
                        return False
                    self._kill_exec(mark)
                    killed = True
                    deadline = time.monotonic() + STOP_WAIT_S
                    continue
                pending = getattr(raw, "pending", None)  # TLS may hold decrypted bytes
                if not (pending and pending()):
                    ready, _, _ = select.select([raw], [], [], wait)
                    if not ready:
                        continue
                chunk = raw.recv(65536)
                if not chunk:
                    return True
                buffer += chunk
                while len(buffer) >= 8:
                    size = int.from_bytes(buffer[4:8], "big")
                    if len(buffer) < 8 + size:
                        break
                    (stderr if buffer[0] == 2 else stdout).feed(bytes(buffer[8 : 8 + size]))
                    del buffer[: 8 + size]
        finally:
            _close_exec_socket(sock, raw)
            if writer is not None:
                writer.join(timeout=1)

    def _exit_code(self, exec_id: str, deadline: float | None) -> int | None:
        """The exec's exit code once it has ended; None if still running at ``deadline``."""
        delay = 0.002
        while True:
            info = self.client.api.exec_inspect(exec_id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                return -1 if code is None else int(code)
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _kill_exec(self, mark: str) -> None:
        """SIGKILL every process of one exec, found by its mark (a second exec)."""
        with contextlib.suppress(Exception):
            self._exec(
                ["bash", "-c", _KILL_SCRIPT, "autolab-kill", mark],
                timeout=None, stdin=None, env=None, output_limit=4096,
            )  # fmt: skip

    def _read_oom_kills(self) -> int | None:
        """The memory cgroup's OOM-kill count (cgroup v2 memory.events or v1 oom_control)."""
        try:
            result = self._exec(
                ["cat", "/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"],
                timeout=10, stdin=None, env=None, output_limit=16384,
            )  # fmt: skip
        except SandboxError:
            return None
        for line in result.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return None

    # -- files ----------------------------------------------------------------------------------

    def write_files(self, files: Mapping[str, bytes]) -> None:
        import docker.errors
        import requests

        self._check_open()
        buffer = io.BytesIO()
        now = int(time.time())
        folders: set[str] = set()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel, data in files.items():
                norm = check_snapshot_path(rel)
                parent = posixpath.dirname(norm)
                while parent and parent not in folders:
                    folders.add(parent)
                    parent = posixpath.dirname(parent)
                info = tarfile.TarInfo(norm)
                info.size = len(data)
                info.mode = self._modes.get(norm, 0o644)
                info.mtime = now
                tar.addfile(info, io.BytesIO(data))
            for folder in sorted(folders):
                info = tarfile.TarInfo(folder)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = now
                tar.addfile(info)
        if folders:
            self._check_paths(list(files), refuse_missing=False)
        try:
            self.client.api.put_archive(self.container_id, APP_DIR, buffer.getvalue())
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise self._engine_error("writing files", exc) from exc

    def read_file(self, path: str, *, max_bytes: int = 16 * 1024 * 1024) -> bytes:
        self._check_open()
        norm = check_snapshot_path(path)
        files = self._copy_out([norm], SnapshotLimits(max_file_bytes=max_bytes, max_total_bytes=max_bytes))
        if norm not in files:
            raise FileNotFoundError(f"{path} does not exist in the sandbox")
        return files[norm]

    def snapshot(self, paths: Sequence[str], limits: SnapshotLimits = DEFAULT_LIMITS) -> dict[str, bytes]:
        self._check_open()
        norms = list(dict.fromkeys(check_snapshot_path(p) for p in paths))
        return self._copy_out(norms, limits)

    def _check_paths(self, norms: Sequence[str], *, refuse_missing: bool = True) -> dict[str, str]:
        """What each path is, seen from inside the container without following links.

        Refuses links (of the file or of a folder on its way), hard links, folders
        and special files with a SnapshotError. Returns {path: "file"|"missing"}.
        Skipped (empty result) when the container no longer runs: the archive
        checks below still hold then.
        """
        state, reason = self._state()
        if state in ("gone", "lost"):
            raise SandboxError(f"cannot copy files out of {self.name}: {reason}")
        if state == "stopped":
            return {}
        result = self._exec(
            ["bash", "-c", _STAT_SCRIPT, "autolab-stat", *norms],
            timeout=30, stdin=None, env=None, output_limit=1 << 20,
        )  # fmt: skip
        lines = result.stdout.splitlines()
        if result.exit_code != 0 or len(lines) != len(norms):
            raise SandboxError(f"cannot inspect {', '.join(norms)} in {self.name}: {result.output[-500:]}")
        kinds: dict[str, str] = {}
        for rel, line in zip(norms, lines, strict=True):
            kind, _, rest = line.partition(" ")
            if kind == "parentlink":
                raise SnapshotError(f"refused {rel!r}: the folder {rest!r} on its way is a symbolic link")
            if not refuse_missing:
                continue
            if kind == "link":
                raise SnapshotError(f"refused {rel!r}: it is a symbolic link")
            if kind in ("folder", "special"):
                raise SnapshotError(f"refused {rel!r}: not a regular file ({kind})")
            if kind == "file":
                links = int(rest.split()[0])
                if links > 1:
                    raise SnapshotError(f"refused {rel!r}: it is a hard link ({links} names)")
            kinds[rel] = kind
        return kinds

    def _copy_out(self, norms: Sequence[str], limits: SnapshotLimits) -> dict[str, bytes]:
        kinds = self._check_paths(norms)
        files: dict[str, bytes] = {}
        total = 0
        for rel in norms:
            if kinds.get(rel) == "missing":
                continue
            budget = min(limits.max_file_bytes, limits.max_total_bytes - total)
            data = self._get_file(rel, budget, limits)
            if data is None:
                continue
            total += len(data)
            files[rel] = data
        return files

    def _get_file(self, rel: str, budget: int, limits: SnapshotLimits) -> bytes | None:
        """One file through the archive API, streamed and refused as early as possible."""
        import requests
        from docker.utils import decode_json_header

        api = self.client.api
        url = f"{api.base_url}/v{api.api_version}/containers/{self.container_id}/archive"
        try:
            response = api.get(
                url,
                params={"path": f"{APP_DIR}/{rel}"},
                # The raw tar: sizes are as announced, and no decompression bomb.
                headers={"Accept-Encoding": "identity"},
                stream=True,
                timeout=api.timeout,
            )
        except requests.RequestException as exc:
            raise self._engine_error(f"copying {rel} out", exc) from exc
        try:
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise SandboxError(
                    f"copying {rel} out of {self.name} failed: {response.status_code} {response.text[:300]}"
                )
            stat = decode_json_header(response.headers.get("X-Docker-Container-Path-Stat", "e30="))
            mode = int(stat.get("mode", 0))
            for bit, kind in _GO_MODE_TYPES.items():
                if mode & bit:
                    raise SnapshotError(f"refused {rel!r}: it is {kind}")
            size = int(stat.get("size", 0))
            if size > limits.max_file_bytes:
                raise SnapshotError(
                    f"refused {rel!r}: {size} bytes is over the {limits.max_file_bytes}-byte limit"
                )
            if size > budget:
                raise SnapshotError(f"refused snapshot: over the {limits.max_total_bytes}-byte total limit")
            return read_single_file_archive(response.raw, rel, budget)
        finally:
            response.close()  # drops the connection: an unread body is never downloaded

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # the run's sweep removes what this could not
            _remove(self.client, self.container_id)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DockerSandbox {self.name} {self.container_id[:12]}>"


def _feed_stdin(raw: Any, data: bytes) -> None:
    with contextlib.suppress(OSError):
        raw.sendall(data)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)  # the engine closes the command's stdin


def _close_exec_socket(sock: Any, raw: Any) -> None:
    for thing in (sock, raw, getattr(sock, "_response", None)):
        if thing is not None:
            with contextlib.suppress(Exception):
                thing.close()


def _replace(result: ExecResult, **changes: Any) -> ExecResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


# --- the backend -------------------------------------------------------------------------------


def default_lifetime_s(task: Task) -> float:
    """How long a container's main process runs: the agent budget twice over (budget
    scales up to 2 fit), the verifier's, and the plugin's slack. $AUTOLAB_SANDBOX_LIFETIME_S wins."""
    explicit = os.environ.get("AUTOLAB_SANDBOX_LIFETIME_S")
    if explicit:
        return float(explicit)
    return 2 * task.agent_timeout_s + task.verifier_timeout_s + STARTUP_SLACK_S


class DockerBackend:
    """Sandboxes as hardened containers of content-hash-tagged task images."""

    name = "docker"
    isolates = True

    def __init__(
        self,
        run_id: str = "adhoc",
        *,
        client: Any = None,
        progress: Progress | None = None,
        base_method: str = "auto",
        sweep: bool = True,
        session: str = "",
    ) -> None:
        self.run_id = run_id
        self.session = session
        self.client = client if client is not None else connect()
        self.progress: Progress = progress or _stderr_progress
        self.base_method = base_method
        self._base_tag: str | None = None
        self._task_tags: dict[tuple[str, Path], str] = {}
        self._lock = threading.Lock()
        #: Containers of dead harnesses removed when this backend started.
        self.orphans_removed = 0
        #: Whether the engine limits a container's whole disk (None: not known yet).
        self.disk_quota: bool | None = None
        if sweep:
            try:
                self.orphans_removed = sweep_orphans(self.client)
            except Exception as exc:  # a failed sweep must not stop the run
                self.progress(f"could not sweep orphaned containers: {_short(exc)}")
            if self.orphans_removed:
                self.progress(f"removed {self.orphans_removed} container(s) left by a harness that died")

    # -- images ---------------------------------------------------------------------------------

    def base_image(self, *, force: bool = False) -> str:
        """The base image's tag, built on first use (see images.py)."""
        if self._base_tag is None or force:
            self._base_tag = ensure_base_image(
                self.client, method=self.base_method, force=force, progress=self.progress
            )
        return self._base_tag

    @property
    def note(self) -> str | None:
        """One line for the run's summary when the disk is limited per file only."""
        if self.disk_quota is False:
            return (
                "this Docker engine cannot limit a container's whole disk (its storage driver has "
                "no quota): storage_mb holds per file only (docs/sandboxes.md)"
            )
        return None

    def unavailable_reason(self) -> str | None:
        """Why no sandbox can start here (the base image is missing and cannot be built), or None."""
        if self._base_tag is not None:
            return None
        try:
            return base_image_unavailable(self.client)
        except Exception as exc:  # the engine misbehaves: say so rather than pick it
            return f"the engine could not be asked about images ({_short(exc)})"

    def prepare(self, task: Task) -> None:
        self.task_image(task)

    def task_image(self, task: Task) -> str:
        """The task's image tag, built on first use, once per tag across processes."""
        if task.gpus:
            raise SandboxError(
                f"{task.toml_path}: [environment] gpus = {task.gpus}, but the docker backend gives "
                "containers no GPU"
            )
        key = (task.name, task.path)
        with self._lock:
            if key not in self._task_tags:
                base = self.base_image()
                self._task_tags[key] = ensure_task_image(self.client, task, base, progress=self.progress)
            return self._task_tags[key]

    # -- containers -----------------------------------------------------------------------------

    def start(
        self,
        task: Task,
        *,
        role: str,
        labels: Mapping[str, str] | None = None,
        lifetime_s: float | None = None,
    ) -> DockerSandbox:
        import docker.errors
        import docker.types
        import requests

        image = self.task_image(task)
        lifetime = lifetime_s if lifetime_s is not None else default_lifetime_s(task)
        all_labels = {
            LABEL_RUN: self.run_id,
            **({LABEL_SESSION: self.session} if self.session else {}),
            LABEL_TASK: task.name,
            LABEL_ROLE: role,
            **(labels or {}),
            LABEL_EXPIRES: str(int(time.time() + lifetime)),
            LABEL_OWNER: owner_token(),
            "autolab.image": image,
        }
        memory = task.memory_mb * 2**20
        storage = task.storage_mb * 2**20
        api = self.client.api
        host_config = api.create_host_config(
            nano_cpus=int(task.cpus * 1e9),
            mem_limit=memory,
            memswap_limit=memory,  # equal: no swap
            pids_limit=PIDS_LIMIT,
            network_mode="bridge" if task.allow_internet else "none",
            security_opt=["no-new-privileges"],
            cap_drop=["ALL"],
            init=True,  # docker-init reaps what commands leave behind
            ulimits=[
                docker.types.Ulimit(name="fsize", soft=storage, hard=storage),
                docker.types.Ulimit(name="core", soft=0, hard=0),
            ],
        )
        name = f"autolab-{task_repository(task.name)[len('autolab-task-') :]}-{role}-{secrets.token_hex(4)}"

        def create(config: dict[str, Any]) -> str:
            return str(
                api.create_container(
                    image,
                    command=["sleep", str(int(lifetime))],
                    name=name,
                    hostname="sandbox",
                    working_dir=APP_DIR,
                    environment=SANDBOX_ENV,
                    labels=all_labels,
                    host_config=config,
                )["Id"]
            )

        try:
            container_id = ""
            if self.disk_quota is not False:
                # The whole container's disk, where the storage driver can limit it (overlay2
                # on xfs with project quotas, btrfs, zfs); most engines cannot (issue 7).
                try:
                    container_id = create({**host_config, "StorageOpt": {"size": f"{task.storage_mb}M"}})
                    self.disk_quota = True
                except docker.errors.APIError as exc:
                    if "storage" not in str(exc).lower() or self.disk_quota is True:
                        raise
                    self.disk_quota = False
            if not container_id:
                container_id = create(host_config)
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise SandboxError(
                f"cannot create a container of {image} for {task.name}: {_short(exc)}"
            ) from exc
        try:
            api.start(container_id)
        except (docker.errors.APIError, requests.RequestException) as exc:
            with contextlib.suppress(Exception):
                _remove(self.client, container_id)
            raise SandboxError(f"cannot start a container of {image} for {task.name}: {_short(exc)}") from exc
        return DockerSandbox(self, container_id, name, task, lifetime)

    def containers(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The engine's summaries of autolab containers (all of them, or those with ``labels``)."""
        filters = [f"{k}={v}" for k, v in (labels or {}).items()] or [LABEL_RUN]
        result: list[dict[str, Any]] = self.client.api.containers(all=True, filters={"label": filters})
        return result

    def sweep(self, labels: Mapping[str, str] | None = None) -> int:
        if not labels:
            labels = {LABEL_RUN: self.run_id, **({LABEL_SESSION: self.session} if self.session else {})}
        return sweep_labelled(self.client, labels)

    def close(self) -> None:
        """Close the engine connection (containers stay: close their sandboxes, or sweep)."""
        with contextlib.suppress(Exception):
            self.client.close()
