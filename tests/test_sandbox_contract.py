"""The sandbox contract, run against every backend: local and docker.

What a verifier or an agent relies on must hold wherever the task runs: a
string command goes to bash in the app dir, exit codes (128+N on a signal),
timeouts that really stop the command, output capped head and tail, files in
and out, and a snapshot that refuses links, escapes and oversize files.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_autolab.sandboxes import (
    Sandbox,
    SandboxBackend,
    SandboxError,
    SnapshotError,
    SnapshotLimits,
)
from pytest_autolab.sandboxes.local import LocalBackend
from pytest_autolab.tasks import Task, load_task

from .conftest import open_docker_backend, write_task


def make_task(root: Path, name: str = "contract_probe") -> Task:
    """A small task folder (root/tasks/<name>/): enough for a sandbox to start from."""
    return load_task(
        write_task(
            root,
            name,
            environment={"prog.sh": "#!/bin/sh\necho slow\n", "data/input.txt": "3 1 2\n"},
            executable=["prog.sh"],
            verifier="def test_nothing():\n    pass\n",
            instruction="Make prog.sh faster.\n",
            **{  # type: ignore[arg-type]
                "environment.storage_mb": 2048,
                "optimization.metric": "seconds",
                "optimization.baseline.score": 10,
                "optimization.reference.score": 1,
                "autolab.axis": "faster",
                "autolab.editable": ["prog.sh"],
                "autolab.max_evaluations": None,
            },
        )
    )


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return make_task(tmp_path_factory.mktemp("tasks"))


def _docker_backend(request: pytest.FixtureRequest) -> SandboxBackend:
    backend = open_docker_backend(request, "contract")
    request.addfinalizer(backend.close)
    return backend  # type: ignore[no-any-return]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("local"),
        pytest.param("docker", marks=pytest.mark.docker),
    ],
)
def backend(request: pytest.FixtureRequest, task: Task) -> Iterator[SandboxBackend]:
    if request.param == "local":
        backend: SandboxBackend = LocalBackend(run_id=f"contract-{os.getpid()}")
    else:
        backend = _docker_backend(request)
    backend.prepare(task)
    yield backend
    backend.sweep({"autolab.run": backend.run_id})  # type: ignore[attr-defined]


@pytest.fixture
def sandbox(backend: SandboxBackend, task: Task) -> Iterator[Sandbox]:
    labels = {"autolab.run": backend.run_id, "autolab.task": task.name}  # type: ignore[attr-defined]
    box = backend.start(task, role="agent", labels=labels)
    yield box
    box.close()


# --- commands ---------------------------------------------------------------------------------


def test_a_string_command_runs_in_bash_in_the_app_dir(sandbox: Sandbox) -> None:
    result = sandbox.exec("echo $BASH_VERSION >/dev/null && pwd && cat data/input.txt")
    assert result.ok, result.output
    assert result.stdout.splitlines() == [sandbox.workdir, "3 1 2"]


def test_an_argument_list_runs_without_a_shell(sandbox: Sandbox) -> None:
    result = sandbox.exec(["printf", "%s|", "a b", "$HOME"])
    assert result.stdout == "a b|$HOME|"


def test_stdout_stderr_and_exit_code_are_kept_apart(sandbox: Sandbox) -> None:
    result = sandbox.exec("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok
    assert not result.timed_out


def test_a_command_killed_by_a_signal_exits_128_plus_n(sandbox: Sandbox) -> None:
    assert sandbox.exec("kill -TERM $$").exit_code == 128 + 15
    assert sandbox.exec("kill -KILL $$", timeout=30).exit_code == 128 + 9


def test_stdin_and_environment_reach_the_command(sandbox: Sandbox) -> None:
    result = sandbox.exec("read line; echo $line-$GREETING", stdin=b"hello\n", env={"GREETING": "hi"})
    assert result.stdout == "hello-hi\n"


def test_large_stdin_does_not_deadlock_with_large_output(sandbox: Sandbox) -> None:
    data = os.urandom(3 * 1024 * 1024)
    result = sandbox.exec("cat; cat >&2 /dev/null", stdin=data, timeout=60, output_limit=1024)
    assert result.ok, result.output
    assert result.truncated_bytes == len(data) - 1024


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("sleep 30", id="sleep"),
        pytest.param("trap '' TERM; while :; do :; done", id="ignores-sigterm"),
        pytest.param("sleep 30 & sleep 30 & wait", id="children"),
        pytest.param("setsid sleep 8 & wait", id="new-session"),
    ],
)
def test_a_timeout_really_stops_the_command(backend: SandboxBackend, sandbox: Sandbox, command: str) -> None:
    token = secrets.token_hex(6)
    start = time.monotonic()
    result = sandbox.exec(f"{command} # {token}", timeout=1)
    assert result.timed_out, result
    assert not result.ok
    assert time.monotonic() - start < 5
    assert "timed out" in result.describe()
    # Nothing of it is left running. (The pattern is split so that it does not match
    # the shell that runs pgrep.)
    left = sandbox.exec(f"pgrep -af '{token[:6]}''{token[6:]}' || true", timeout=10)
    assert left.stdout == "", left.output


def test_output_is_capped_keeping_head_and_tail(sandbox: Sandbox) -> None:
    result = sandbox.exec(
        "echo FIRST; head -c 2000000 /dev/zero | tr '\\0' x; echo; echo LAST", output_limit=1000
    )
    assert result.ok
    assert result.stdout.startswith("FIRST\n")
    assert result.stdout.endswith("LAST\n")
    assert "bytes cut by autolab" in result.stdout
    assert result.truncated_bytes == 2000000 + len("FIRST\n\nLAST\n") - 1000


def test_huge_output_neither_deadlocks_nor_fills_memory(sandbox: Sandbox) -> None:
    start = time.monotonic()
    result = sandbox.exec("head -c 200000000 /dev/zero; head -c 50000000 /dev/zero >&2", timeout=120)
    assert result.ok, result.describe()
    assert len(result.stdout) < 70000
    assert len(result.stderr) < 70000
    assert result.truncated_bytes > 240_000_000
    assert time.monotonic() - start < 60


def test_a_program_that_does_not_exist_is_a_result_not_a_crash(sandbox: Sandbox) -> None:
    result = sandbox.exec("no-such-program --help")
    assert result.exit_code == 127
    assert "no-such-program" in result.stderr


# --- files --------------------------------------------------------------------------------------


def test_files_written_are_read_back_and_snapshotted(sandbox: Sandbox) -> None:
    sandbox.write_files({"prog.sh": b"#!/bin/sh\necho fast\n", "out/deep/note.txt": b"n\n"})
    assert sandbox.read_file("out/deep/note.txt") == b"n\n"
    assert sandbox.exec("./prog.sh").stdout == "fast\n"  # the environment's mode is kept
    assert sandbox.snapshot(["prog.sh", "out/deep/note.txt", "not-there.py"]) == {
        "prog.sh": b"#!/bin/sh\necho fast\n",
        "out/deep/note.txt": b"n\n",
    }


def test_what_a_command_writes_is_in_the_snapshot(sandbox: Sandbox) -> None:
    sandbox.exec("printf 'echo %s\\n' agent > prog.sh")
    assert sandbox.snapshot(["prog.sh"]) == {"prog.sh": b"echo agent\n"}


def test_reading_a_missing_file_raises_file_not_found(sandbox: Sandbox) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        sandbox.read_file("missing.txt")


@pytest.mark.parametrize(
    ("setup", "path", "message"),
    [
        pytest.param("ln -sf /etc/passwd prog.sh", "prog.sh", "symbolic link", id="symlink-to-passwd"),
        pytest.param("ln -s /etc sub", "sub/passwd", "symbolic link", id="symlinked-folder"),
        pytest.param("ln data/input.txt prog.sh -f", "prog.sh", "hard link", id="hard-link"),
        pytest.param("rm prog.sh; mkfifo prog.sh", "prog.sh", "not a regular file", id="fifo"),
        pytest.param("rm prog.sh; mkdir prog.sh", "prog.sh", "not a regular file", id="folder"),
        pytest.param("true", "../etc/passwd", "leaves the app dir", id="dotdot"),
        pytest.param("true", "/etc/passwd", "only relative paths", id="absolute"),
    ],
)
def test_a_hostile_snapshot_is_refused(sandbox: Sandbox, setup: str, path: str, message: str) -> None:
    assert sandbox.exec(setup).ok
    with pytest.raises(SnapshotError, match=message):
        sandbox.snapshot([path])


def test_snapshot_size_caps_per_file_and_in_total(sandbox: Sandbox) -> None:
    sandbox.exec("head -c 3000 /dev/zero > prog.sh; head -c 3000 /dev/zero > data/input.txt")
    with pytest.raises(SnapshotError, match="over the 2000-byte limit"):
        sandbox.snapshot(["prog.sh"], SnapshotLimits(max_file_bytes=2000, max_total_bytes=10000))
    with pytest.raises(SnapshotError, match="total limit"):
        sandbox.snapshot(
            ["prog.sh", "data/input.txt"], SnapshotLimits(max_file_bytes=4000, max_total_bytes=5000)
        )
    with pytest.raises(SnapshotError, match="limit"):
        sandbox.read_file("prog.sh", max_bytes=100)


def test_a_one_gigabyte_file_is_refused_without_reading_it(sandbox: Sandbox) -> None:
    made = sandbox.exec("truncate -s 1G prog.sh && stat -c %s prog.sh", timeout=60)
    assert made.stdout.strip() == str(2**30), made.output
    start = time.monotonic()
    with pytest.raises(SnapshotError, match="1073741824 bytes is over"):
        sandbox.snapshot(["prog.sh"])
    assert time.monotonic() - start < 5


# --- lifetime -----------------------------------------------------------------------------------


def test_close_is_idempotent_and_ends_the_sandbox(backend: SandboxBackend, task: Task) -> None:
    box = backend.start(task, role="agent", labels={"autolab.run": backend.run_id})  # type: ignore[attr-defined]
    box.close()
    box.close()
    with pytest.raises(SandboxError, match="closed"):
        box.exec("true")


def test_sandboxes_do_not_share_files(backend: SandboxBackend, task: Task) -> None:
    labels = {"autolab.run": backend.run_id}  # type: ignore[attr-defined]
    with backend.start(task, role="agent", labels=labels) as first:
        first.write_files({"prog.sh": b"changed\n"})
        with backend.start(task, role="verify", labels=labels) as second:
            assert second.read_file("prog.sh") == b"#!/bin/sh\necho slow\n"


@pytest.mark.parametrize("chunk", [1, 7, 4096, 10**6])
@pytest.mark.parametrize("size", [0, 999, 1000, 1001, 123457])
def test_the_streaming_cap_equals_capping_the_whole_output(chunk: int, size: int) -> None:
    from pytest_autolab.sandboxes import OutputCap, cap_output

    data = bytes(i % 251 for i in range(size))
    cap = OutputCap(1000)
    for start in range(0, size, chunk):
        cap.feed(data[start : start + chunk])
    assert cap.result() == cap_output(data, 1000)
