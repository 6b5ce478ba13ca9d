"""The timed Go tasks' trusted parts: pristine baselines, and the verifiers' recomputation of
what the harnesses report (checksums, payloads), checked against the Go harnesses themselves."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import load_module

TASKS = Path(__file__).resolve().parent.parent / "tasks"
#: task: (editable file, its read-only pristine copy)
PRISTINE = {
    "lockfree_queue": ("queue/queue.go", "baseline/queue.go"),
    "group_commit": ("wal/wal.go", "baseline/wal.go"),
}

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")


def verifier(task: str) -> ModuleType:
    path = TASKS / task / f"test_{task}.py"
    return load_module(path, f"verifier_{task}")


def build(task: str, tmp_path: Path) -> Path:
    """The task's harness with its baseline, built in a copy of environment/."""
    app = tmp_path / "app"
    shutil.copytree(TASKS / task / "environment", app)
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path), "GOCACHE": str(tmp_path / "cache")}
    subprocess.run(["go", "build", "-o", "bench", "."], cwd=app, env=env, check=True, capture_output=True)
    return app


@pytest.mark.parametrize("task", sorted(PRISTINE))
def test_the_pristine_copy_is_the_editable_file_as_shipped(task: str) -> None:
    editable, pristine = PRISTINE[task]
    env = TASKS / task / "environment"
    assert (env / editable).read_bytes() == (env / pristine).read_bytes()


@needs_go
def test_the_queue_checksum_is_recomputed_as_the_harness_computes_it(tmp_path: Path) -> None:
    app = build("lockfree_queue", tmp_path)
    module = verifier("lockfree_queue")
    phases = [(2, 3, 1000, 4), (1, 1, 777, 1)]
    out = subprocess.run(
        ["./bench", "-phases", module.phase_spec(phases), "-seed", "123456789"],
        cwd=app,
        capture_output=True,
        text=True,
        check=True,
    )
    result = module.ExecResult(exit_code=0, stdout=out.stdout, stderr=out.stderr)
    module.check_output(result, 123456789, phases, "harness")
    with pytest.raises(AssertionError, match="checksum"):
        module.check_output(result, 987654321, phases, "harness")


@needs_go
def test_the_log_records_are_recomputed_as_the_harness_writes_them(tmp_path: Path) -> None:
    app = build("group_commit", tmp_path)
    module = verifier("group_commit")
    subprocess.run(
        ["./bench", "-log", "x.log", "-seed", "42", "-clients", "3", "-records", "4"],
        cwd=app,
        capture_output=True,
        check=True,
    )
    data = (app / "x.log").read_bytes()
    module.check_log(data, 42, 3, 4, "harness")
    with pytest.raises(AssertionError, match="not a record of this run"):
        module.check_log(data, 43, 3, 4, "harness")
    with pytest.raises(AssertionError, match="holds 12 records, 15"):
        module.check_log(data, 42, 3, 5, "harness")
