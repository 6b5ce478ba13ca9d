"""The fork server behind evaluate(): a warm Python that forks one child per evaluation.

Starting Python, pytest, the plugins and the verifier's usual imports costs a
second or more per evaluate() call; this server pays it once per harness process
(see ``evaluation.ForkServer``). Each evaluation still runs in a fresh process of
its own, a fork, with the same arguments, working directory and environment as a
plain ``python -m pytest`` child. Protocol, one JSON object per line::

    server  -> {"ready": true}                               once the imports are done
    harness -> {"args": [...], "cwd": "/task", "log": "/scratch/pytest.log"}
    server  -> {"pid": 4242}                                 the child runs pytest.main(args)
    server  -> {"pid": 4242, "exit": 0}                      when it is gone

The server is single-threaded (so forking is safe), serves one evaluation at a
time, and exits when its stdin closes: it never outlives the harness.

    python -m pytest_autolab._forkserver
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from importlib.metadata import entry_points
from typing import Any

__all__ = ["main"]

#: Imported up front when installed: what verifiers and our sandboxes commonly use.
PRELOAD = ("numpy", "hypothesis", "docker", "pytest_autolab.sandboxes.docker")


def preload() -> None:
    import pytest  # noqa: F401  (the point is to import it)

    importlib.import_module("pytest_autolab.plugin")
    for ep in entry_points(group="pytest11"):
        with contextlib.suppress(Exception):  # a broken plugin fails in the child, as it would anyway
            importlib.import_module(ep.value.partition(":")[0])
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def send(message: dict[str, Any]) -> None:
    # Unbuffered: nothing may sit in a buffer that a fork would copy.
    os.write(1, (json.dumps(message) + "\n").encode())


def child(request: dict[str, Any]) -> None:
    """In the fork: become a plain pytest run, then exit without running the server's cleanup."""
    code = 3
    try:
        os.setsid()  # its own process group: the harness can stop it and all it started
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # as `python -m pytest` run in that folder has it
        sys.argv = ["pytest", *request["args"]]
        import pytest

        code = int(pytest.main(request["args"]))
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops evaluations, not the terminal
    preload()
    send({"ready": True})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        send({"pid": pid})
        _, status = os.waitpid(pid, 0)
        send({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
