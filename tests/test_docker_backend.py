"""The Docker backend against the real engine: isolation, faults and cleanup.

Tests marked ``docker`` skip (saying why) only when no engine answers; the
first of them builds the base image if the engine lacks it, through the same
code as ``autolab image build``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_autolab.sandboxes import SandboxError, SandboxUnavailable, SnapshotError, get_backend
from pytest_autolab.sandboxes.docker import (
    PIDS_LIMIT,
    DockerBackend,
    DockerSandbox,
    owner_alive,
    owner_token,
    read_single_file_archive,
)
from pytest_autolab.tasks import Task, load_task

from .conftest import open_docker_backend, write_task

PROBE_VERIFIER = """\
def test_solve_runs(submission, record_metric):
    result = submission.exec("python3 solve.py", timeout=60)
    assert result.ok, result.output
    record_metric(5.0)
"""


def make_task(root: Path, name: str = "docker_probe", dockerfile: str | None = None) -> Task:
    """root/tasks/<name>/: solve.py to make faster, helper.txt beside it."""
    return load_task(
        write_task(
            root,
            name,
            environment={"solve.py": "print('baseline')\n", "helper.txt": "read-only\n"},
            verifier=PROBE_VERIFIER,
            dockerfile=dockerfile,
            instruction="Make it faster.\n",
            **{  # type: ignore[arg-type]
                "environment.cpus": 1.5,
                "environment.memory_mb": 256,
                "environment.storage_mb": 512,
                "environment.allow_internet": False,
                "optimization.metric": "seconds",
                "optimization.baseline.score": 10,
                "optimization.reference.score": 1,
                "autolab.axis": "faster",
                "autolab.editable": ["solve.py"],
                "autolab.max_evaluations": None,
            },
        )
    )


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> Iterator[DockerBackend]:
    backend = open_docker_backend(request, "tests")
    yield backend
    backend.sweep({"autolab.run": backend.run_id})
    backend.close()


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return make_task(tmp_path_factory.mktemp("tasks"))


@pytest.fixture
def sandbox(backend: DockerBackend, task: Task) -> Iterator[DockerSandbox]:
    box = backend.start(task, role="agent", labels={"autolab.run": backend.run_id, "autolab.task": task.name})
    yield box
    box.close()


# --- the container ------------------------------------------------------------------------------


@pytest.mark.docker
def test_containers_carry_the_task_limits_hardening_and_labels(
    backend: DockerBackend, sandbox: DockerSandbox
) -> None:
    info = backend.client.api.inspect_container(sandbox.container_id)
    host = info["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == host["MemorySwap"] == 256 * 2**20
    assert host["PidsLimit"] == PIDS_LIMIT
    assert host["NetworkMode"] == "none"
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert host["Init"] is True
    assert not host["Privileged"]
    labels = info["Config"]["Labels"]
    assert labels["autolab.run"] == backend.run_id
    assert labels["autolab.task"] == "docker_probe"
    assert labels["autolab.role"] == "agent"
    assert labels["autolab.owner"] == owner_token()
    assert float(labels["autolab.expires"]) > time.time()
    assert info["Config"]["Cmd"][0] == "sleep"
    inside = sandbox.exec("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; id -u; pwd")
    assert inside.stdout.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1", "0", "/app"]


@pytest.mark.docker
def test_the_container_ends_by_itself_after_its_lifetime(backend: DockerBackend, task: Task) -> None:
    box = backend.start(task, role="agent", labels={"autolab.run": backend.run_id}, lifetime_s=2)
    try:
        assert box.exec("true").ok
        deadline = time.monotonic() + 30
        while backend.client.api.inspect_container(box.container_id)["State"]["Running"]:
            assert time.monotonic() < deadline, "the container outlived its lifetime"
            time.sleep(0.5)
        with pytest.raises(SandboxError, match="lifetime of 2 s ran out"):
            box.exec("true")
        # Copy-out still works from a stopped container.
        assert box.snapshot(["solve.py"]) == {"solve.py": b"print('baseline')\n"}
    finally:
        box.close()


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.docker
def test_memory_past_the_limit_is_killed_and_reported_as_oom(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("python3 -c 'x = bytearray(600 * 2**20); print(len(x))'", timeout=60)
    assert result.oom_killed, result
    assert result.exit_code == 128 + 9
    assert not result.timed_out
    assert result.describe() == "killed: out of memory"
    # The suite (and the sandbox) carry on.
    after = sandbox.exec("python3 -c 'print(len(bytearray(50 * 2**20)))'", timeout=60)
    assert after.ok, after
    assert not after.oom_killed


@pytest.mark.docker
def test_a_command_killed_otherwise_is_not_reported_as_oom(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("kill -KILL $$")
    assert result.exit_code == 137
    assert not result.oom_killed


@pytest.mark.docker
@pytest.mark.slow
def test_a_fork_bomb_is_contained_by_the_pids_limit(sandbox: DockerSandbox) -> None:
    # Every process forks for ever: only the pids limit and the timeout stop it.
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    result = sandbox.exec(["python3", "-c", bomb], timeout=5, output_limit=4096)
    assert time.monotonic() - start < 30
    assert result.timed_out, result
    # The limit was reached (the cgroup counts refused forks) and the sandbox still answers.
    events = sandbox.exec(
        "cat /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events 2>/dev/null; "
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null",
        timeout=30,
    )
    words = events.stdout.split()
    assert words[0] == "max", events.output
    assert int(words[1]) > 0, events.output
    assert words[2] == str(PIDS_LIMIT)
    deadline = time.monotonic() + 30
    while True:
        count = sandbox.exec("ls -d /proc/[0-9]* | wc -l", timeout=30)
        if count.ok and int(count.stdout) < 20:
            break
        assert time.monotonic() < deadline, f"the fork bomb was not stopped: {count.output}"
        time.sleep(1)


@pytest.mark.docker
def test_network_access_fails_without_internet(sandbox: DockerSandbox) -> None:
    # Only the loopback interface exists, so no packet can leave.
    interfaces = sandbox.exec("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
    assert interfaces.stdout.split() == ["lo"]
    # 192.0.2.1 is TEST-NET-1 (documentation only); with no route nothing is sent.
    result = sandbox.exec(
        "python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80), timeout=5)'", timeout=30
    )
    assert result.exit_code != 0
    assert "Network is unreachable" in result.stderr
    dns = sandbox.exec("python3 -c 'import socket; socket.getaddrinfo(\"example.org\", 80)'", timeout=30)
    assert dns.exit_code != 0
    assert "gaierror" in dns.stderr


@pytest.mark.docker
def test_a_container_removed_from_outside_is_a_clear_error(backend: DockerBackend, task: Task) -> None:
    box = backend.start(task, role="agent", labels={"autolab.run": backend.run_id})
    backend.client.api.remove_container(box.container_id, force=True)
    with pytest.raises(SandboxError, match=r"is gone \(removed from outside"):
        box.exec("true")
    with pytest.raises(SandboxError, match="is gone"):
        box.write_files({"solve.py": b""})
    with pytest.raises(SandboxError, match="is gone"):
        box.snapshot(["solve.py"])
    box.close()  # nothing left to remove: still fine


@pytest.mark.docker
def test_a_lost_engine_mid_run_is_a_sandbox_error(backend: DockerBackend, task: Task) -> None:
    box = backend.start(task, role="agent", labels={"autolab.run": backend.run_id})
    try:
        real = box.client
        box.client = _DeadEngine()
        with pytest.raises(SandboxError, match="Docker engine"):
            box.exec("true")
    finally:
        box.client = real
        box.close()


class _DeadEngine:
    """A client whose engine went away: every call fails to connect."""

    def __getattr__(self, name: str) -> object:
        return self

    def __call__(self, *args: object, **kwargs: object) -> object:
        import requests

        raise requests.ConnectionError("Connection refused")


# --- hostile snapshots --------------------------------------------------------------------------


@pytest.mark.docker
def test_a_symlink_to_etc_passwd_is_refused_and_nothing_is_written(
    sandbox: DockerSandbox, tmp_path: Path
) -> None:
    sandbox.exec("ln -sf /etc/passwd solve.py")
    before = set(tmp_path.rglob("*"))
    with pytest.raises(SnapshotError, match=r"'solve\.py': it is a symbolic link"):
        sandbox.snapshot(["solve.py"])
    assert set(tmp_path.rglob("*")) == before


@pytest.mark.docker
def test_the_app_dir_replaced_by_a_link_is_refused(sandbox: DockerSandbox) -> None:
    sandbox.exec("cd / && mv app real && ln -s /etc app && cp /etc/passwd /etc/solve.py")
    with pytest.raises(SnapshotError, match="'/app' on its way is a symbolic link"):
        sandbox.snapshot(["solve.py"])


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buffer.seek(0)
    return buffer


def _member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        pytest.param([(_member("../solve.py", b"x"), b"x")], "holds '../solve.py'", id="dotdot-member"),
        pytest.param([(_member("/etc/passwd", b"x"), b"x")], "holds '/etc/passwd'", id="absolute-member"),
        pytest.param([(_member("other.py", b"x"), b"x")], "holds 'other.py'", id="other-name"),
        pytest.param(
            [(_member("solve.py", kind=tarfile.SYMTYPE, link="/etc/passwd"), None)],
            "symbolic link \\(to '/etc/passwd'\\)",
            id="symlink-member",
        ),
        pytest.param(
            [(_member("solve.py", kind=tarfile.LNKTYPE, link="etc/passwd"), None)],
            "hard link",
            id="hardlink-member",
        ),
        pytest.param(
            [(_member("solve.py", kind=tarfile.CHRTYPE), None)], "not a regular file", id="device-member"
        ),
        pytest.param([(_member("solve.py", b"x" * 5000), b"x" * 5000)], "5000 bytes is over", id="oversize"),
        pytest.param(
            [(_member("solve.py", b"x"), b"x"), (_member("../../x", b"y"), b"y")],
            "more than one",
            id="extra-member",
        ),
        pytest.param([], "empty archive", id="empty"),
    ],
)
def test_a_hostile_archive_is_refused_member_by_member(members: list, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        read_single_file_archive(_tar(*members), "solve.py", max_bytes=4096)


def test_an_oversize_member_is_refused_from_its_header() -> None:
    class Endless(io.RawIOBase):
        """A 1 GB member that is never read: only its header is."""

        def __init__(self) -> None:
            info = _member("solve.py")
            info.size = 2**30
            self.header = io.BytesIO(info.tobuf())
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            data = self.header.read(len(buffer)) or b"\0" * len(buffer)
            buffer[: len(data)] = data
            self.read_bytes += len(data)
            return len(data)

    stream = Endless()
    with pytest.raises(SnapshotError, match="1073741824 bytes is over"):
        read_single_file_archive(stream, "solve.py", max_bytes=16 * 2**20)  # type: ignore[arg-type]  # a raw stream
    assert stream.read_bytes < 2**20


# --- orphans and sweeps -------------------------------------------------------------------------


HARNESS = """\
import sys, time
from pytest_autolab.sandboxes.docker import DockerBackend
from pytest_autolab.tasks import load_task
backend = DockerBackend(run_id=sys.argv[2], sweep=False)
box = backend.start(load_task(sys.argv[1]), role="agent", labels={"autolab.run": sys.argv[2]})
print(box.container_id, flush=True)
time.sleep(600)
"""


def _start_harness(task: Task, run_id: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(task.path), run_id], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    container_id = proc.stdout.readline().strip()
    assert container_id, "the harness did not start a sandbox"
    return proc, container_id


def _exists(backend: DockerBackend, container_id: str) -> bool:
    return bool(backend.client.api.containers(all=True, filters={"id": container_id}))


@pytest.mark.docker
def test_a_sigkilled_harness_leaves_orphans_the_next_backend_removes(
    backend: DockerBackend, task: Task
) -> None:
    run_id = f"killed-{secrets.token_hex(3)}"
    live, live_id = _start_harness(task, f"{run_id}-live")
    dead, dead_id = _start_harness(task, run_id)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert _exists(backend, dead_id), "the container should outlive its killed harness"
        fresh = DockerBackend(run_id="next-run", progress=lambda _: None)
        fresh.close()
        assert not _exists(backend, dead_id), "the orphan of the killed harness is still there"
        assert fresh.orphans_removed >= 1
        # A concurrent live run keeps its container.
        assert _exists(backend, live_id)
    finally:
        for proc in (live, dead):
            proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        backend.sweep({"autolab.run": f"{run_id}-live"})
        backend.sweep({"autolab.run": run_id})


def test_owner_liveness_tells_this_process_from_a_dead_one() -> None:
    assert owner_alive(owner_token()) is True
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = owner_token().split(":")[0]
    assert owner_alive(f"{host}:{proc.pid}:1") is False
    assert owner_alive("another-host:1:1") is None
    assert owner_alive("") is None


@pytest.mark.docker
def test_sweep_removes_only_the_runs_containers(backend: DockerBackend, task: Task) -> None:
    mine = backend.start(task, role="agent", labels={"autolab.run": "sweep-a"})
    other = backend.start(task, role="agent", labels={"autolab.run": "sweep-b"})
    try:
        assert backend.sweep({"autolab.run": "sweep-a"}) == 1
        assert not _exists(backend, mine.container_id)
        assert _exists(backend, other.container_id)
    finally:
        mine.close()
        other.close()


@pytest.mark.docker
def test_the_session_sweep_leaves_no_container_of_the_run(backend: DockerBackend, task: Task) -> None:
    from pytest_autolab.sandboxes import sweep_run

    run_id = f"session-{secrets.token_hex(3)}"
    for role in ("agent", "verify"):
        backend.start(task, role=role, labels={"autolab.run": run_id})
    assert sweep_run(run_id) == 2
    assert backend.containers({"autolab.run": run_id}) == []


# --- no engine ----------------------------------------------------------------------------------


def test_no_engine_is_unavailable_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    with pytest.raises(SandboxUnavailable) as excinfo:
        DockerBackend(run_id="x")
    message = str(excinfo.value)
    assert message.startswith(f"cannot reach a Docker engine at unix://{tmp_path}/dead.sock: ")
    assert "\n" not in message
    notes: list[str] = []
    backend = get_backend("auto", run_id="x", notes=notes)
    assert backend.name == "local"
    assert notes == [f"no Docker engine answered ({message}); using the local sandbox"]


# --- the fresh verifier container ---------------------------------------------------------------


@pytest.mark.docker
def test_the_verifier_gets_a_fresh_container_with_only_the_editable_files(
    backend: DockerBackend, task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_autolab.lab import Lab, RunSettings

    lab = Lab(RunSettings(run_id=backend.run_id, run_dir=tmp_path / "run", sandbox="docker"))
    monkeypatch.setattr(lab, "_backend", backend)
    with backend.start(task, role="agent", labels=lab.labels(task, "agent")) as agent_box:
        agent_box.exec("echo 'print(42)' > solve.py; echo tampered > helper.txt; touch /tmp/agent-was-here")
        files = agent_box.snapshot(task.editable)
    submission = lab.open_submission(task, files, hidden=True)
    try:
        box = submission.sandbox
        assert isinstance(box, DockerSandbox)
        assert box.container_id != agent_box.container_id
        assert box.read_file("solve.py") == b"print(42)\n"
        assert box.read_file("helper.txt") == b"read-only\n"
        assert not box.exec("test -e /tmp/agent-was-here").ok
        labels = backend.client.api.inspect_container(box.container_id)["Config"]["Labels"]
        assert labels["autolab.role"] == "verify"
    finally:
        submission.close()


@pytest.mark.docker
@pytest.mark.slow
def test_a_hostile_agent_is_rejected_with_reward_zero(tmp_path: Path, backend: DockerBackend) -> None:
    """End to end: an agent that leaves a link to /etc/passwd scores 0, and nothing
    of /etc/passwd reaches the run directory."""
    make_task(tmp_path, name="hostile_probe")
    agent = tmp_path / "hostile_agent.py"
    agent.write_text(
        textwrap.dedent(
            """
            from pytest_autolab.agents import AgentOutcome

            class LinkAgent:
                name = "link"

                def run(self, ctx):
                    ctx.sandbox.exec("ln -sf /etc/passwd solve.py")
                    return AgentOutcome(message="linked")
            """
        )
    )
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(tmp_path / "tasks"), "-p", "no:cacheprovider", "-q",
            "--autolab-agent=hostile_agent:LinkAgent", "--autolab-sandbox=docker",
            f"--autolab-run-dir={run_dir}", "-o", "addopts=",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    result = json.loads((run_dir / "hostile_probe" / "result.json").read_text())
    assert result["status"] == "rejected", proc.stdout[-3000:]
    assert result["reward"] == 0
    assert "symbolic link" in result["reason"]
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"root:x:0:0" not in path.read_bytes(), f"{path} holds /etc/passwd"
    assert backend.containers({"autolab.run": run_dir.name}) == []


@pytest.mark.docker
@pytest.mark.slow
def test_evaluate_runs_the_verifier_in_docker_reusing_the_image(
    tmp_path: Path, backend: DockerBackend
) -> None:
    """evaluate() runs the verifier in a child pytest with --autolab-sandbox=docker: it finds
    the task image by its content-hash tag (no rebuild) and scores in a scratch container."""
    make_task(tmp_path, name="evaluate_probe")
    agent = tmp_path / "evaluating_agent.py"
    agent.write_text(
        textwrap.dedent(
            """
            from pytest_autolab.agents import AgentOutcome

            class EvaluatingAgent:
                name = "evaluating"

                def run(self, ctx):
                    ctx.tools.write_files({"solve.py": b"print('better')\\n"})
                    verdict = ctx.tools.evaluate()
                    assert verdict["correct"], verdict
                    return AgentOutcome(message="evaluated")
            """
        )
    )
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(tmp_path / "tasks"), "-p", "no:cacheprovider", "-q",
            "--autolab-agent=evaluating_agent:EvaluatingAgent", "--autolab-sandbox=docker",
            f"--autolab-run-dir={run_dir}", "-o", "addopts=",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    result = json.loads((run_dir / "evaluate_probe" / "result.json").read_text())
    assert result["status"] == "scored", proc.stdout[-3000:]
    assert result["evaluations"] == 1
    assert result["sandbox"] == "docker"
    logs = list((run_dir / "evaluate_probe" / "evaluations").rglob("pytest.log"))
    assert len(logs) == 1
    log = logs[0].read_text()
    assert "1 passed" in log
    assert "building" not in log  # the image the parent built was found by its tag
    assert backend.containers({"autolab.run": run_dir.name}) == []


@pytest.mark.docker
def test_the_whole_disk_is_limited_where_the_engine_can_and_the_run_says_so_where_not(
    backend: DockerBackend, task: Task
) -> None:
    with backend.start(task, role="agent", labels={"autolab.run": backend.run_id}) as box:
        if backend.disk_quota:
            # Many files, each under the per-file limit, together past storage_mb.
            result = box.exec(
                f"for i in $(seq 1 {2 * task.storage_mb}); do head -c 1048576 /dev/zero > f$i || exit 1; done",
                timeout=120,
            )
            assert not result.ok
        else:
            assert backend.disk_quota is False
            assert backend.note is not None
            assert "storage_mb holds per file only" in backend.note
