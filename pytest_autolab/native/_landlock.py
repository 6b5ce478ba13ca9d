"""The launcher that starts every run of a native program in a Landlock domain.

It runs in the sandbox (``python3 -c LAUNCHER scratch outputs -- program args...``), before the
program or Valgrind: Valgrind 3.19 cannot pass Landlock's system calls through, so the program
could not confine itself under it. In the domain nothing can be written but beneath ``scratch``
(the run's fresh private directory) and the named ``outputs`` (comma-separated files, created
empty beforehand); reading stays free. Network binding and connecting are refused (Landlock ABI
4), and so are signals to processes outside the domain (ABI 6). Exit status 97 means the kernel
has no Landlock.
"""

from __future__ import annotations

__all__ = ["LANDLOCK_MISSING_EXIT", "LAUNCHER"]

#: Exit status of the launcher when the kernel has no Landlock (Linux before 5.13, or disabled).
LANDLOCK_MISSING_EXIT = 97

LAUNCHER = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
scratch, outputs, argv = sys.argv[1], [p for p in sys.argv[2].split(",") if p], sys.argv[4:]
abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
if abi < 1:
    sys.stderr.write("autolab: this kernel has no Landlock (Linux 5.13 or later with Landlock enabled is "
                     "needed to keep runs from leaving files behind): " + os.strerror(ctypes.get_errno()) + "\n")
    sys.exit(97)
write_rights = (1 << 1) | sum(1 << b for b in range(4, 13))  # write, remove, make anything
if abi >= 2:
    write_rights |= 1 << 13  # refer (rename and link across directories)
if abi >= 3:
    write_rights |= 1 << 14  # truncate
net = 3 if abi >= 4 else 0
scoped = 3 if abi >= 6 else 0
attr = struct.pack("<QQQ", write_rights, net, scoped)
size = 24 if abi >= 6 else 16 if abi >= 4 else 8
ruleset = libc.syscall(444, ctypes.c_char_p(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
if ruleset < 0:
    sys.exit("autolab: cannot create a Landlock ruleset: " + os.strerror(ctypes.get_errno()))
def allow(path, rights):
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    rule = struct.pack("<Qi", rights, fd)
    if libc.syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.c_char_p(rule), ctypes.c_uint32(0)) != 0:
        sys.exit("autolab: cannot add a Landlock rule for " + path + ": " + os.strerror(ctypes.get_errno()))
    os.close(fd)
allow(scratch, write_rights)
for path in outputs:
    allow(path, (1 << 1) | ((1 << 14) if abi >= 3 else 0))
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
    sys.exit("autolab: cannot enforce the Landlock ruleset: " + os.strerror(ctypes.get_errno()))
os.close(ruleset)
os.execvp(argv[0], argv)
"""
