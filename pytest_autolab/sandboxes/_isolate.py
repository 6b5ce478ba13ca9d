"""Runs one command of a local sandbox in its own mount and PID namespaces (issue 7).

Started as ``unshare --mount --pid --fork --kill-child --mount-proc [--net] python -S -I
_isolate.py ROOT [HIDDEN ...] -- ARGV...`` (standard library only: it runs before anything
else is set up). Inside the new namespaces, as root, it:

1. keeps ROOT (the sandbox: app/, home/, tmp/) writable and makes every other mount
   read-only, so nothing outside the sandbox survives a command (no result cache in a
   shared folder, no rewritten result.json of an earlier run);
2. puts ROOT/tmp on /tmp and a fresh tmpfs on /dev/shm: a private /tmp;
3. covers each HIDDEN folder (the task catalogue with every solution/, the run directory)
   with an empty read-only tmpfs;
4. runs ARGV in ROOT/app through ``setpriv`` with no capabilities and no new privileges,
   so the command cannot undo any of this (unmount /proc, remount, mount the host's /proc);
   it stays PID 1 itself and exits with ARGV's status (128+N for signal N).

The fresh /proc shows the command's own processes only: not the harness's environment,
command line or working directory. When the command's shell (PID 1 of the namespace)
exits, the kernel kills every process left in it: a daemon cannot outlive its command.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

#: Per-mount options that a remount must repeat (a user namespace refuses to drop them).
_KEPT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None) != 0:  # fmt: skip
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134.
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def _mounts() -> list[tuple[str, int]]:
    """(mount point, flags to keep) of every mount, from /proc/self/mountinfo."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) < 6:
                continue
            flags = 0
            for option in fields[5].split(","):
                flags |= _KEPT_FLAGS.get(option, 0)
            points.append((_unescape(fields[4]), flags))
    return points


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def main(args: list[str]) -> None:
    root = args[0]
    split = args.index("--")
    hidden, argv = args[1:split], args[split + 1 :]
    _mount(root, root, None, MS_BIND)
    for point, flags in _mounts():
        if _inside(point, root) or point.startswith(("/proc", "/sys", "/dev")):
            continue
        # A mount that refuses (already read-only, locked) is left as it is.
        with contextlib.suppress(OSError):
            _mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    with contextlib.suppress(OSError):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=67108864")
    if not _inside(root, "/tmp"):
        _mount(os.path.join(root, "tmp"), "/tmp", None, MS_BIND)
    for folder in hidden:
        if os.path.isdir(folder) and not _inside(root, folder):
            _mount("tmpfs", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4096,mode=755")
    os.chdir(os.path.join(root, "app"))  # the new bind, not the read-only path below it
    setpriv = ["setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
    # This process stays PID 1 of the namespace (the command would not get the signals it
    # sends itself as PID 1): it reaps orphans and exits with the command's status, and the
    # kernel then kills whatever the command left running.
    child = os.fork()
    if child == 0:
        try:
            os.execvp(setpriv[0], [*setpriv, *argv])
        finally:
            os._exit(127)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as exc:
        sys.stderr.write(f"autolab: cannot isolate the local sandbox: {exc}\n")
        sys.exit(125)
