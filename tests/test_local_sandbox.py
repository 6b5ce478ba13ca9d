"""The local backend: limits, output caps, scrubbed environment, hardened copy-out."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_autolab.sandboxes import SnapshotError, SnapshotLimits, get_backend, sweep_run
from pytest_autolab.sandboxes.local import LocalBackend, LocalSandbox, _base_dir, namespaces
from pytest_autolab.tasks import load_task

from .conftest import MakeTask


@pytest.fixture
def sandbox(make_task: MakeTask) -> Iterator[LocalSandbox]:
    task = load_task(make_task(**{"environment.memory_mb": 256}))
    backend = LocalBackend(run_id="test-local")
    with backend.start(task, role="agent", labels={}) as box:
        yield box
    backend.sweep()


def test_commands_run_in_a_copy_of_the_environment(sandbox: LocalSandbox) -> None:
    result = sandbox.exec("pwd; cat value.txt")
    assert result.ok
    assert result.stdout.splitlines() == [sandbox.workdir, "100"]


def test_exit_codes_and_signals_are_reported(sandbox: LocalSandbox) -> None:
    assert sandbox.exec("exit 3").exit_code == 3
    assert sandbox.exec("kill -SEGV $$").exit_code == 128 + 11


def test_a_timeout_stops_the_whole_process_group(sandbox: LocalSandbox) -> None:
    result = sandbox.exec("trap '' TERM; (sleep 30; echo late > late.txt) & sleep 30", timeout=1)
    assert result.timed_out
    assert not result.ok
    assert result.duration_s < 10
    assert "killed" not in result.describe() or result.timed_out
    assert result.describe().startswith("timed out")
    assert not (sandbox.app / "late.txt").exists()


def test_huge_output_is_capped_head_and_tail(sandbox: LocalSandbox) -> None:
    result = sandbox.exec(
        "echo START; head -c 50000000 /dev/zero | tr '\\0' x; echo; echo END", output_limit=4096
    )
    assert result.ok
    assert result.stdout.startswith("START")
    assert result.stdout.rstrip().endswith("END")
    assert "bytes cut by autolab" in result.stdout
    assert result.truncated_bytes > 49_000_000
    assert len(result.stdout) < 5000


def test_the_environment_is_scrubbed(sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    out = sandbox.exec("env").stdout
    assert "sk-secret" not in out
    assert "HOME=" in out
    assert "PATH=" in out


def test_memory_past_the_limit_fails_the_command(sandbox: LocalSandbox) -> None:
    result = sandbox.exec("python3 -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'", timeout=30)
    assert not result.ok
    assert "MemoryError" in result.stderr


def test_file_size_limit_stops_a_runaway_writer(make_task: MakeTask) -> None:
    task = load_task(make_task(**{"environment.storage_mb": 1}))
    with LocalBackend(run_id="test-fsize").start(task, role="agent", labels={}) as box:
        result = box.exec("head -c 5000000 /dev/zero > big.bin", timeout=30)
        assert not result.ok
        assert os.path.getsize(box.app / "big.bin") <= 1024 * 1024


def test_stdin_is_passed(sandbox: LocalSandbox) -> None:
    assert sandbox.exec("tr a-z A-Z", stdin=b"hello").stdout == "HELLO"


def test_write_read_and_snapshot_round_trip(sandbox: LocalSandbox) -> None:
    sandbox.write_files({"value.txt": b"7\n", "sub/dir/new.txt": b"x"})
    assert sandbox.read_file("value.txt") == b"7\n"
    assert sandbox.snapshot(["value.txt", "sub/dir/new.txt", "missing.txt"]) == {
        "value.txt": b"7\n",
        "sub/dir/new.txt": b"x",
    }


@pytest.mark.parametrize(
    ("setup", "path", "message"),
    [
        ("ln -sf /etc/passwd value.txt", "value.txt", "symbolic link"),
        ("mkdir -p d && ln -s /etc d/link && true", "d/link/passwd", "symbolic link"),
        ("ln -s /etc etc && true", "etc/passwd", "symbolic link"),
        (
            "rm value.txt && ln /etc/hostname value.txt 2>/dev/null || (echo 1 > a && ln a value.txt)",
            "value.txt",
            "hard link",
        ),
        ("rm value.txt && mkfifo value.txt", "value.txt", "not a regular file"),
        ("true", "../outside.txt", "leaves the app dir"),
        ("true", "/etc/passwd", "only relative paths"),
        ("head -c 3000 /dev/zero > value.txt", "value.txt", "over the 1000-byte limit"),
    ],
)
def test_hostile_snapshots_are_refused(sandbox: LocalSandbox, setup: str, path: str, message: str) -> None:
    assert sandbox.exec(setup).ok
    with pytest.raises(SnapshotError, match=message):
        sandbox.snapshot([path], SnapshotLimits(max_file_bytes=1000))


def test_snapshot_total_size_is_capped(sandbox: LocalSandbox) -> None:
    sandbox.write_files({"a": b"x" * 600, "b": b"y" * 600})
    with pytest.raises(SnapshotError, match="total limit"):
        sandbox.snapshot(["a", "b"], SnapshotLimits(max_file_bytes=1000, max_total_bytes=1000))


def test_close_removes_the_sandbox_and_is_idempotent(make_task: MakeTask) -> None:
    task = load_task(make_task())
    box = LocalBackend(run_id="test-close").start(task, role="agent", labels={})
    root = box.root
    assert root.exists()
    box.close()
    box.close()
    assert not root.exists()


def test_unknown_backend_names_the_choices() -> None:
    from pytest_autolab.sandboxes import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match="expected one of auto, local, docker"):
        get_backend("podman", run_id="x")


# --- issue 7: the cheap leaks of the local sandbox are stopped where namespaces work ---------------

needs_namespaces = pytest.mark.skipif(
    not namespaces()[0], reason=f"no namespaces for the local sandbox here: {namespaces()[2]}"
)


def _processes_running(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry.name))
    return found


@needs_namespaces
def test_a_daemon_that_leaves_the_session_and_the_environment_does_not_outlive_its_command(
    sandbox: LocalSandbox,
) -> None:
    needle = f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    result = sandbox.exec(f"setsid env -i sleep {needle} < /dev/null > /dev/null 2>&1 & disown; echo started")
    assert result.stdout.strip() == "started"
    time.sleep(0.3)
    assert _processes_running(f"sleep {needle}") == []


@needs_namespaces
def test_a_command_sees_neither_the_harness_processes_nor_their_working_folders(
    sandbox: LocalSandbox,
) -> None:
    result = sandbox.exec(f"cat /proc/{os.getpid()}/cwd/*; ls /proc | grep -E '^[0-9]+$'")
    assert "No such file or directory" in result.stderr
    # Only the command's own processes: the namespace's init, the shell, ls, grep.
    assert max(map(int, result.stdout.split())) < 20


@needs_namespaces
def test_the_task_catalogue_and_the_run_directory_are_hidden(make_task: MakeTask, tmp_path: Path) -> None:
    task = load_task(make_task())
    run_dir = _base_dir() / f"autolab-test-runs-{secrets.token_hex(3)}" / "runs" / "r1"
    (run_dir / "toy").mkdir(parents=True)
    (run_dir / "run.json").write_text('{"settings": {"seed": 7}}')
    try:
        backend = LocalBackend(run_id="test-hidden", hide=[run_dir.parent])
        with backend.start(task, role="agent", labels={}) as box:
            result = box.exec(
                f"cat {task.solution_dir}/value.txt; cat {run_dir}/run.json; ls {task.path.parent}; "
                f"echo 5 > {run_dir}/toy/result.json"
            )
            assert "10" not in result.stdout
            assert "seed" not in result.stdout
            assert result.stdout.strip() == ""
        assert not (run_dir / "toy" / "result.json").exists()
        assert (task.solution_dir / "value.txt").read_text() == "10\n"
    finally:
        shutil.rmtree(run_dir.parent.parent)


@needs_namespaces
def test_nothing_outside_the_sandbox_can_be_written_and_tmp_is_private(make_task: MakeTask) -> None:
    task = load_task(make_task())
    outside = _base_dir() / f"autolab-test-outside-{secrets.token_hex(3)}"
    outside.mkdir()
    (outside / "result.json").write_text("{}")
    backend = LocalBackend(run_id="test-readonly")
    try:
        with backend.start(task, role="agent", labels={}) as first:
            result = first.exec(
                f"echo rewritten > {outside}/result.json; echo cached > /tmp/cache.txt; cat /tmp/cache.txt"
            )
            assert "Read-only file system" in result.stderr
            assert result.stdout.strip() == "cached"
            assert first.exec("cat /tmp/cache.txt").stdout.strip() == "cached"  # the sandbox's own /tmp
        with backend.start(task, role="verify", labels={}) as second:
            assert not second.exec("cat /tmp/cache.txt").ok
        assert (outside / "result.json").read_text() == "{}"
        assert not Path("/tmp/cache.txt").exists()
    finally:
        shutil.rmtree(outside)
        backend.sweep()


@needs_namespaces
def test_a_command_has_no_capabilities_to_undo_its_namespaces(sandbox: LocalSandbox) -> None:
    result = sandbox.exec("grep CapEff /proc/self/status; umount /proc || echo refused")
    assert "CapEff:\t0000000000000000" in result.stdout
    assert "refused" in result.stdout


def test_the_end_of_one_session_leaves_the_live_sandboxes_of_another_session_of_the_run(
    make_task: MakeTask,
) -> None:
    # Issue 14: two sessions whose run folders share a base name share the run id; the sweep
    # at the end of one removed the other's live sandboxes, and an agent's work was lost.
    task = load_task(make_task())
    run_id = f"same-name-{secrets.token_hex(3)}"
    first = LocalBackend(run_id=run_id, session="first")
    second = LocalBackend(run_id=run_id, session="second")
    live = first.start(task, role="agent")
    ended = second.start(task, role="agent")
    try:
        assert live.root.parent != ended.root.parent
        assert sweep_run(run_id, "second") == 1  # the second session ends
        assert not ended.root.exists()
        assert live.exec("cat value.txt").stdout == "100\n"
        assert live.root.is_dir()
        # A session whose process is gone is an orphan: the next sweep of the run removes it.
        orphan = LocalBackend(run_id=run_id, session="crashed").start(task, role="agent")
        (orphan.root / "owner").write_text(f"{socket.gethostname()}:999999999:1")
        sweep_run(run_id, "second")
        assert not orphan.root.exists()
        assert live.root.is_dir()
    finally:
        live.close()
        sweep_run(run_id, "first")
    assert not live.root.parent.exists()
