"""The local backend: a temporary directory and subprocesses with resource limits.

It is the embedded default where no Docker engine answers. It limits CPU time,
memory (address space), file size and output, and it scrubs the environment.
Where the kernel allows it (root, or unprivileged user namespaces), each command
also runs in its own mount and PID namespaces (``_isolate.py``): the rest of the
file system read-only, a private /tmp, the task catalogue and the run directory
hidden, its own /proc, no capabilities, no network unless the task allows it, and
nothing left running after the command. It is still NOT a security boundary
like Docker: the same kernel, the same user, and every other file the user can
read. The plugin says which of the two it was, once per run.

Layout of one sandbox::

    /var/tmp/autolab-<run id>-<session>/<task>-<role>-XXXX/   (the temporary folder if /var/tmp is not writable)
      owner    the process that made it (see ``LocalBackend.sweep``)
      app/     the app dir: a copy of environment/ (workdir, cwd of every command)
      home/    HOME
      tmp/     TMPDIR, and /tmp inside the namespaces
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from ._base import (
    DEFAULT_OUTPUT_LIMIT,
    LABEL_RUN,
    LABEL_SESSION,
    ExecResult,
    OutputCap,
    SandboxError,
    SnapshotError,
    SnapshotLimits,
    check_snapshot_path,
)

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = ["LocalBackend", "LocalSandbox"]

_ROOT_PREFIX = "autolab-"
_SANDBOX_MARK = "AUTOLAB_SANDBOX"
_EXEC_MARK = "AUTOLAB_EXEC"
DEFAULT_LIMITS = SnapshotLimits()
#: The script that sets up a command's namespaces (run by path: standard library only).
ISOLATE_SCRIPT = Path(__file__).with_name("_isolate.py")
#: Exit code of _isolate.py when it could not set the namespaces up.
ISOLATE_FAILED = 125


def _base_dir() -> Path:
    # Not under /tmp: inside the namespaces /tmp is the sandbox's own tmp/.
    var_tmp = Path("/var/tmp")
    if var_tmp.is_dir() and os.access(var_tmp, os.W_OK | os.X_OK):
        return var_tmp
    return Path(tempfile.gettempdir())


def _sandbox_root(run_id: str, session: str = "") -> Path:
    """One pytest session's folder: two sessions of the same run id (two run directories of
    the same name, a resume next to a live run) never share one (issue 14)."""
    return _base_dir() / f"{_ROOT_PREFIX}{run_id}{'-' + session if session else ''}"


@functools.cache
def namespaces() -> tuple[tuple[str, ...], bool, str]:
    """(unshare command prefix, whether a network namespace works too, why not) for this
    machine, probed once per process; the prefix is empty where namespaces do not work.

    AUTOLAB_LOCAL_NAMESPACES=0 turns them off (debugging a task without them)."""
    if os.environ.get("AUTOLAB_LOCAL_NAMESPACES", "1") == "0":
        return (), False, "AUTOLAB_LOCAL_NAMESPACES=0"
    if sys.platform != "linux":
        return (), False, f"namespaces are Linux only (this is {sys.platform})"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return (), False, f"{tool} (util-linux) is not installed"
    rest = ("--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private")
    # Root first (a container without CAP_SYS_ADMIN may still allow a user namespace).
    prefixes: list[tuple[str, ...]] = [("unshare", *rest)] if os.geteuid() == 0 else []
    prefixes.append(("unshare", "--user", "--map-root-user", *rest))
    reason = ""
    with tempfile.TemporaryDirectory(prefix="autolab-probe-", dir=_base_dir()) as tmp:
        for sub in ("app", "tmp"):
            os.mkdir(os.path.join(tmp, sub))
        for prefix in prefixes:
            for net in (True, False):
                argv = [*prefix, *(["--net"] if net else []), *_isolate_argv(tmp, []), "true"]
                try:
                    done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    return (), False, f"unshare failed: {exc}"
                if done.returncode == 0:
                    return prefix, net, ""
                reason = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
    return (), False, f"unshare failed here: {reason[:200]}"


def _isolate_argv(root: str, hidden: Sequence[str]) -> list[str]:
    return [sys.executable, "-S", "-I", str(ISOLATE_SCRIPT), root, *hidden, "--"]


class _CappedReader(threading.Thread):
    """Drains a pipe into an OutputCap (first and last ``limit // 2`` bytes kept)."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.cap = OutputCap(limit)

    def run(self) -> None:
        try:
            while chunk := self.pipe.read1(65536):  # type: ignore[attr-defined]
                self.cap.feed(chunk)
        except (OSError, ValueError):
            pass  # the pipe was closed under us after a kill

    def result(self) -> tuple[str, int]:
        return self.cap.result()


class LocalSandbox:
    """One sandbox: a private folder, commands run as limited subprocesses."""

    def __init__(self, root: Path, task: Task, *, hidden: Sequence[Path] = ()) -> None:
        self.root = root
        self.app = root / "app"
        self.workdir = str(self.app)
        self.task = task
        #: Folders covered by an empty one inside the namespaces.
        self.hidden = [str(path) for path in hidden]
        self._closed = False
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()

    # -- commands ---------------------------------------------------------------------------

    def _environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        # Scrubbed: nothing of the harness's environment (keys, tokens) leaks in.
        path = os.pathsep.join(
            dict.fromkeys(
                [os.path.dirname(sys.executable), *_toolchain_dirs(), "/usr/local/bin", "/usr/bin", "/bin"]
            )
        )
        env = {
            "PATH": path,
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "AUTOLAB_APP": self.workdir,
            # Marks every process of this sandbox, so that one that leaves its process
            # group (setsid, a daemon) is still found and killed.
            _SANDBOX_MARK: self.root.name,
        }
        rustup_home = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
        if os.path.isdir(rustup_home):
            env["RUSTUP_HOME"] = rustup_home  # rustup's toolchains (read-only use), not the sandbox's HOME
        if extra:
            env.update(extra)
        return env

    def _limits(self, timeout: float | None) -> None:
        # Runs in the child between fork and exec.
        mb = 1024 * 1024
        memory = self.task.memory_mb * mb
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        fsize = self.task.storage_mb * mb
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if timeout is not None:
            cpu = int(timeout * max(self.task.cpus, 1)) + 2
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

    def exec(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> ExecResult:
        if self._closed:
            raise SandboxError(f"sandbox {self.root.name} is closed")
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        prefix, net, _ = namespaces()
        if prefix:
            unshare = [*prefix, *(["--net"] if net and not self.task.allow_internet else [])]
            argv = [*unshare, *_isolate_argv(str(self.root), self.hidden), *argv]
        start = time.monotonic()
        try:
            exec_mark = secrets.token_hex(8)
            proc = subprocess.Popen(
                argv,
                cwd=self.app,
                env={**self._environment(env), _EXEC_MARK: exec_mark},
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as a whole
                preexec_fn=lambda: self._limits(timeout),
            )
        except OSError as exc:
            return ExecResult(-1, "", f"could not start {argv[0]!r}: {exc}", duration_s=0.0)
        with self._lock:
            self._procs.add(proc)
        assert proc.stdout is not None
        assert proc.stderr is not None
        readers = [_CappedReader(proc.stdout, output_limit), _CappedReader(proc.stderr, output_limit)]
        for reader in readers:
            reader.start()
        if stdin is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except OSError:
                pass  # the command exited without reading all of it
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
            proc.wait()
            with self._lock:
                self._procs.discard(proc)
        if timed_out:
            _kill_marked(_EXEC_MARK, exec_mark)
        for reader in readers:
            # A process that escaped both kills may still hold the pipe: do not wait on it.
            reader.join(timeout=2)
            if not reader.is_alive():
                reader.pipe.close()
        (out, out_cut), (err, err_cut) = (r.result() for r in readers)
        code = proc.returncode
        if code < 0:
            code = 128 - code
        cpu_killed = code == 128 + signal.SIGKILL or code == 128 + signal.SIGXCPU
        return ExecResult(
            exit_code=code,
            stdout=out,
            stderr=err,
            timed_out=timed_out or (timeout is not None and cpu_killed and code == 128 + signal.SIGXCPU),
            truncated_bytes=out_cut + err_cut,
            duration_s=time.monotonic() - start,
        )

    # -- files -------------------------------------------------------------------------------

    def _resolve(self, rel: str) -> Path:
        norm = check_snapshot_path(rel)
        path = self.app / norm
        # Every folder on the way must be a real folder inside the app dir, not a link.
        current = self.app
        for part in Path(norm).parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise SnapshotError(f"refused {rel!r}: {part!r} is a symbolic link")
        return path

    def write_files(self, files: Mapping[str, bytes]) -> None:
        for rel, data in files.items():
            path = self._resolve(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or (path.exists() and not path.is_file()):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            path.write_bytes(data)

    def read_file(self, path: str, *, max_bytes: int = 16 * 1024 * 1024) -> bytes:
        return self._read_checked(path, max_bytes)

    def _read_checked(self, rel: str, max_bytes: int) -> bytes:
        path = self._resolve(rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{rel} does not exist in the sandbox") from None
        if stat.S_ISLNK(info.st_mode):
            raise SnapshotError(f"refused {rel!r}: it is a symbolic link")
        if not stat.S_ISREG(info.st_mode):
            raise SnapshotError(f"refused {rel!r}: not a regular file")
        if info.st_nlink > 1:
            raise SnapshotError(f"refused {rel!r}: it is a hard link ({info.st_nlink} names)")
        if info.st_size > max_bytes:
            raise SnapshotError(f"refused {rel!r}: {info.st_size} bytes is over the {max_bytes}-byte limit")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SnapshotError(f"refused {rel!r}: over the {max_bytes}-byte limit")
        return data

    def snapshot(self, paths: Sequence[str], limits: SnapshotLimits = DEFAULT_LIMITS) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        total = 0
        for rel in paths:
            try:
                data = self._read_checked(rel, limits.max_file_bytes)
            except FileNotFoundError:
                continue
            total += len(data)
            if total > limits.max_total_bytes:
                raise SnapshotError(f"refused snapshot: over the {limits.max_total_bytes}-byte total limit")
            files[check_snapshot_path(rel)] = data
        return files

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)
        _kill_marked(_SANDBOX_MARK, self.root.name)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_marked(name: str, value: str) -> int:
    """SIGKILL every process whose environment holds ``name=value``; return how many."""
    needle = f"{name}={value}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


class LocalBackend:
    """Sandboxes as temporary folders on this machine. Not isolation: see the module doc."""

    name = "local"
    isolates = False
    orphans_removed = 0  # a local sandbox ends with the process that made it

    def __init__(self, run_id: str = "adhoc", *, session: str = "", hide: Sequence[Path] = ()) -> None:
        self.run_id = run_id
        #: Unique to the pytest session: names its folder (see ``_sandbox_root``).
        self.session = session
        #: Folders no command may see, besides each task's catalogue (the run directory).
        self.hide = list(hide)

    @property
    def note(self) -> str:
        """One line for the run's summary: what this sandbox does and does not stop."""
        prefix, net, why = namespaces()
        if prefix:
            return (
                "the local sandbox is not a security boundary: each command ran in its own mount "
                "and PID namespaces (read-only system, private /tmp, task catalogue and run "
                f"directory hidden, no capabilities{', no network' if net else ''}), but on this "
                "kernel, as this user, with every other file readable "
                "(use --autolab-sandbox=docker for isolation)"
            )
        return (
            "the local sandbox does not isolate a hostile agent: the program ran as your user "
            f"with resource limits only ({why}; use --autolab-sandbox=docker for isolation)"
        )

    def _hidden(self, task: Task) -> list[Path]:
        """The task catalogue (every task's solution/) and the run directory, where they
        exist and hiding them hides nothing the sandbox needs."""
        keep = [Path(sys.executable).resolve(), _base_dir().resolve()]
        hidden = []
        for folder in [task.path.resolve().parent, *(p.resolve() for p in self.hide)]:
            if (
                folder.is_dir()
                and folder != Path("/")
                and not any(k == folder or folder in k.parents for k in keep)
                and folder not in hidden
            ):
                hidden.append(folder)
        return hidden

    def prepare(self, task: Task) -> None:
        if not task.environment_dir.is_dir():
            raise SandboxError(f"{task.environment_dir} is not a folder")

    def start(
        self,
        task: Task,
        *,
        role: str,
        labels: Mapping[str, str] | None = None,
        lifetime_s: float | None = None,  # local sandboxes end with the process that made them
    ) -> LocalSandbox:
        base = _sandbox_root(self.run_id, self.session)
        for attempt in range(3):  # another session's sweep may remove an empty folder at once
            base.mkdir(parents=True, exist_ok=True)
            try:
                root = Path(tempfile.mkdtemp(prefix=f"{task.name}-{role}-", dir=base))
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        from .docker import owner_token

        (root / "owner").write_text(owner_token(), encoding="utf-8")
        for sub in ("home", "tmp"):
            (root / sub).mkdir()
        shutil.copytree(
            task.environment_dir,
            root / "app",
            ignore=lambda folder, names: [n for n in names if n in ("Dockerfile", ".dockerignore")],
        )
        return LocalSandbox(root, task, hidden=self._hidden(task))

    def sweep(self, labels: Mapping[str, str] | None = None) -> int:
        """Remove this session's folder, and every sandbox (of any run) whose owner process is
        gone; a sandbox of a live process is never touched (issue 14)."""
        from .docker import owner_alive

        labels = labels or {}
        mine = _sandbox_root(labels.get(LABEL_RUN, self.run_id), labels.get(LABEL_SESSION, self.session))
        count = 0
        if mine.is_dir():
            count += sum(1 for entry in mine.iterdir() if entry.is_dir())
            shutil.rmtree(mine, ignore_errors=True)
        for base in _base_dir().glob(f"{_ROOT_PREFIX}*"):
            if not base.is_dir() or base == mine:
                continue
            removed = 0
            for sandbox in base.iterdir():
                try:
                    owner = (sandbox / "owner").read_text(encoding="utf-8")
                except OSError:
                    continue  # not a sandbox, one being made, or not ours to read
                if owner_alive(owner) is False:  # a crashed harness's
                    shutil.rmtree(sandbox, ignore_errors=True)
                    removed += 1
            if removed:
                count += removed
                with contextlib.suppress(OSError):
                    base.rmdir()  # only if nothing is left (start() makes it again if need be)
        return count

    def close(self) -> None:
        """Nothing to release: the backend holds no connection."""


#: Compilers the tasks build with, found wherever this machine has them (rustup puts cargo
#: under ~/.cargo/bin, which the scrubbed PATH would miss).
TOOLCHAINS = ("cargo", "rustc", "go", "gcc", "g++", "make", "valgrind")


@functools.cache
def _toolchain_dirs() -> tuple[str, ...]:
    found = (shutil.which(tool) for tool in TOOLCHAINS)
    return tuple(dict.fromkeys(os.path.dirname(path) for path in found if path))
