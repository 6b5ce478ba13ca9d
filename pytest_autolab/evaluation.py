"""evaluate(): the task's own verifier on a snapshot, with PUBLIC inputs.

The verifier module runs in a separate pytest process in "evaluate mode"
(``--autolab-evaluate=<snapshot dir>``): its ``submission`` fixture starts a
scratch sandbox from the pristine task environment, puts the snapshot in and
uses the task's public seed. The inner session writes its verdict as JSON.
A separate process keeps the verifier's imports, Hypothesis state and any
crash away from the harness.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .results import TaskResult, write_files
from .tasks import Task

__all__ = ["Evaluation", "run_verifier"]

#: Seconds added to the verifier's own timeout for the inner pytest to start and stop.
STARTUP_GRACE_S = 60.0


@dataclasses.dataclass
class Evaluation:
    """The verdict of one evaluate() call."""

    #: scored | incorrect | no_metric | error
    status: str
    correct: bool
    metric: float | None
    n: float | None
    reward: float
    #: Failing tests, "test name: message" (trimmed).
    failures: list[str]
    #: Harness-side problem (the verifier could not run), else "".
    error: str
    #: Wall time of the whole evaluation, seconds.
    duration_s: float
    speedup: float | None = None

    def failure_digest(self) -> str:
        """The first failure (or error) in a line, for the ledger."""
        text = self.error or (self.failures[0] if self.failures else "")
        return text.splitlines()[0][:300] if text else ""

    def for_agent(self) -> dict[str, Any]:
        """What the agent is told: enough to iterate, nothing about hidden inputs."""
        return {
            "correct": self.correct,
            "status": self.status,
            "metric": self.metric,
            "normalized_score": None if self.n is None else round(self.n, 4),
            "reward": round(self.reward, 4),
            "speedup": self.speedup,
            "failures": [f[:1500] for f in self.failures[:5]],
            "error": self.error[:1500],
            "seconds": round(self.duration_s, 2),
        }

    @classmethod
    def from_result(cls, result: TaskResult, duration_s: float) -> Evaluation:
        return cls(
            status=result.status,
            correct=result.correct,
            metric=result.metric,
            n=result.n,
            reward=result.reward,
            failures=list(result.failures),
            error=result.reason if result.status == "error" else "",
            duration_s=duration_s,
            speedup=result.speedup if isinstance(result.speedup, float) else None,
        )

    @classmethod
    def failed(cls, error: str, duration_s: float) -> Evaluation:
        return cls("error", False, None, None, 0.0, [], error, duration_s)


def verifier_command(
    task: Task, snapshot_dir: Path, out_file: Path, *, sandbox: str, run_id: str
) -> list[str]:
    """The inner pytest command line of one evaluation."""
    return [
        sys.executable, "-m", "pytest", str(task.verifier_path),
        "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:xdist",
        "-o", "addopts=",
        f"--rootdir={task.path}",
        f"--autolab-evaluate={snapshot_dir}",
        f"--autolab-evaluate-out={out_file}",
        f"--autolab-sandbox={sandbox}",
        f"--autolab-run-id={run_id}",
    ]  # fmt: skip


def run_verifier(
    task: Task,
    files: Mapping[str, bytes],
    *,
    scratch: Path,
    sandbox: str,
    run_id: str,
    timeout: float | None = None,
) -> Evaluation:
    """Run the task's verifier on ``files`` with public inputs; never raises for its failures."""
    start = time.monotonic()
    snapshot_dir = scratch / "snapshot"
    write_files(snapshot_dir, files)
    out_file = scratch / "evaluation.json"
    command = verifier_command(task, snapshot_dir, out_file, sandbox=sandbox, run_id=run_id)
    limit = (timeout or task.verifier_timeout_s) + STARTUP_GRACE_S
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    try:
        proc = subprocess.run(
            command,
            cwd=task.path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Evaluation.failed(f"the verifier ran past {limit:.0f} s", time.monotonic() - start)
    (scratch / "pytest.log").write_bytes(proc.stdout + proc.stderr)
    duration = time.monotonic() - start
    try:
        data = json.loads(out_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (proc.stdout + proc.stderr).decode("utf-8", "replace")[-2000:]
        return Evaluation.failed(
            f"the verifier wrote no verdict (pytest exit {proc.returncode}):\n{tail}", duration
        )
    return Evaluation.from_result(TaskResult.from_json(data), duration)
