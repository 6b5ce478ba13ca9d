"""The catalogue validates: every task's baseline, reference, ladder and cheats score as they must.

One inner session (``pytest tasks/ --autolab-validate -n 2``) verifies every variant of every
task under tasks/, in Docker where an engine and the base image can be had (else the local
sandbox); each task then gets a test item here that fails with its variants' verdicts. This is
the slow part of the suite: about a minute or two per task on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO

TASKS = sorted(p.parent.name for p in (REPO / "tasks").glob("*/task.toml"))
#: AUTOLAB_CATALOGUE_SANDBOX=local|docker|auto overrides the backend the catalogue is validated in.
SANDBOX = os.environ.get("AUTOLAB_CATALOGUE_SANDBOX", "auto")


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("catalogue")
    summary = out / "summary.json"
    command = [
        sys.executable, "-m", "pytest", "tasks", "--autolab-validate", "-n", "2",
        f"--autolab-sandbox={SANDBOX}", f"--autolab-run-dir={out / 'run'}", f"--autolab-results={summary}",
        "-p", "no:cacheprovider", "-q", "--no-header",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    if not summary.exists():
        pytest.fail(f"the validation session wrote no summary (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(summary.read_text())
    data["output"] = proc.stdout
    return data


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_task_validates(validation: dict[str, Any], task: str) -> None:
    rows = [row for row in validation["validation"] if row["task"] == task]
    assert rows, f"{task}: no variant was validated:\n{validation['output'][-4000:]}"
    kinds = {row["variant"].split("[")[0] for row in rows}
    assert {"baseline", "reference"} <= kinds
    failed = [f"{row['variant']}: {row['note']}" for row in rows if row["verdict"] != "ok"]
    assert not failed, f"{task}:\n  " + "\n  ".join(failed)


@pytest.mark.parametrize("task", TASKS)
def test_task_ships_a_ladder_and_cheats(task: str) -> None:
    folder: Path = REPO / "tasks" / task / "validation"
    rungs = [p for p in (folder / "rungs").glob("*") if p.is_dir()]
    cheats = [p for p in (folder / "cheats").glob("*") if p.is_dir()]
    assert len(rungs) >= 2, f"{task}: {len(rungs)} rung(s) under validation/rungs/, at least 2 expected"
    assert len(cheats) >= 2, f"{task}: {len(cheats)} cheat(s) under validation/cheats/, at least 2 expected"
