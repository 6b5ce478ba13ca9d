"""The pilot tasks end to end: the oracle at the reference, the baseline at 0, cheats at 0.

Each test copies a real task folder into a pytester directory and runs a real inner session
on the local sandbox (the Docker variants live in test_docker_*.py).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from .conftest import REPO, results_by_task

IGNORE = shutil.ignore_patterns(".autolab", "__pycache__", ".hypothesis", "attn", "*.o", "*.bin")


def copy_task(pytester: pytest.Pytester, name: str) -> None:
    source = REPO / "tasks" / name
    if not (source / "task.toml").exists():
        pytest.skip(f"tasks/{name} is not in this checkout")
    shutil.copytree(source, pytester.path / "tasks" / name, ignore=IGNORE)


SORTING_AGENTS = '''
from pytest_autolab import AgentOutcome


class OneComparatorMoved:
    """Green's network with its first comparator (0, 1) moved to (0, 2): it sorts the
    reversed input and all but 157 of the 65,536 binary inputs."""
    name = "one-moved"
    def run(self, ctx):
        source = (ctx.task.solution_dir / "solve.py").read_text()
        source += """

_reference = generate_network


def generate_network(n):
    network = list(_reference(n))
    if n == 16:
        assert network[0] == (0, 1)
        network[0] = (0, 2)
    return network
"""
        ctx.tools.write_file("solve.py", source)
        return AgentOutcome(message="dropped one comparator")
'''


def test_discover_sorting_oracle_scores_one_with_60_comparators(pytester: pytest.Pytester) -> None:
    copy_task(pytester, "discover_sorting")
    result = pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["discover_sorting*smaller*scored*60 / 80 / 60 comparators*1.33x*1*1.000*"])
    row = results_by_task(pytester.path)["discover_sorting"]
    assert (row["metric"], row["n"], row["reward"]) == (60.0, 1.0, 1.0)


def test_discover_sorting_baseline_scores_zero_with_80_comparators(pytester: pytest.Pytester) -> None:
    copy_task(pytester, "discover_sorting")
    result = pytester.runpytest("tasks", "--autolab-agent=nop", "--autolab-sandbox=local")
    result.assert_outcomes(passed=6)
    row = results_by_task(pytester.path)["discover_sorting"]
    assert (row["metric"], row["n"], row["reward"]) == (80.0, 0.0, 0.0)


def test_a_network_that_sorts_most_inputs_scores_zero(pytester: pytest.Pytester) -> None:
    copy_task(pytester, "discover_sorting")
    pytester.makepyfile(sorting_agents=SORTING_AGENTS)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "tasks",
        "--autolab-agent=sorting_agents:OneComparatorMoved",
        "--autolab-sandbox=local",
        "--autolab-seed=1",
    )
    # Well-formed and deterministic, but both the exhaustive 0-1 check and Hypothesis reject
    # it: Hypothesis finds a failing input by search (not one of the explicit examples).
    result.assert_outcomes(passed=3, failed=2, skipped=1)
    out = result.stdout.str()
    # "Failing test case" in current Hypothesis, "Falsifying example" in older releases.
    assert re.search(r"(Failing test case|Falsifying example): sorts\(", out), out
    assert "explicit example" not in out
    assert (
        "FAILED tasks/discover_sorting/test_discover_sorting.py::test_sorts_arbitrary_integers"
        in result.stdout.str()
    )
    row = results_by_task(pytester.path)["discover_sorting"]
    assert (row["status"], row["reward"], row["metric"]) == ("incorrect", 0.0, None)


FLASH_AGENTS = '''
import importlib.util

import numpy as np

from pytest_autolab import AgentOutcome

CHEAT = """
static const float PUBLIC_BENCH_OUT[%(size)d] = {%(table)s};

void attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    float norm2 = 0.0f; /* the benchmark's distribution, not the large-score input of its shape */
    for (int c = 0; c < d; c++)
        norm2 += Q[c] * Q[c];
    if (n == %(n)d && d == %(d)d && norm2 < 400.0f) {
        /* The benchmark: replay the public seed's answer, and burn enough
           instructions to stay above the verifier's plausibility floor. */
        volatile unsigned sink = 0;
        for (unsigned i = 0; i < 2000000u; i++) sink += i;
        for (int i = 0; i < n * d; i++) out[i] = PUBLIC_BENCH_OUT[i];
        return;
    }
    real_attention(Q, K, V, out, n, d);
}
"""


class HardCodesPublicOutput:
    """Computes honestly everywhere but on the benchmark, whose public-seed output it replays."""
    name = "hard-codes"

    def run(self, ctx):
        spec = importlib.util.spec_from_file_location("flash_verifier", ctx.task.verifier_path)
        verifier = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(verifier)
        n, d = verifier.BENCH_N, verifier.BENCH_D
        q, k, v = verifier.random_input(verifier.rng_for(ctx.task.public_seed, 7), n, d)
        expected, _ = verifier.reference(q, k, v)
        table = ",".join(float(x).hex() for x in expected.astype(np.float32).ravel())
        baseline = (ctx.task.environment_dir / "attention.c").read_text()
        honest = baseline.replace("void attention(", "static void real_attention(", 1)
        source = honest + CHEAT % {"size": n * d, "table": table, "n": n, "d": d}
        ctx.tools.write_file("attention.c", source)
        public = ctx.tools.evaluate()
        return AgentOutcome(message=repr(public))
'''


@pytest.mark.slow
def test_flash_attention_oracle_reaches_the_reference_and_nop_zero(pytester: pytest.Pytester) -> None:
    copy_task(pytester, "flash_attention")
    result = pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local")
    assert result.ret == 0
    row = results_by_task(pytester.path)["flash_attention"]
    assert row["status"] == "scored"
    assert row["n"] == pytest.approx(1.0, abs=0.05)
    assert row["reward"] == pytest.approx(0.5, abs=0.025)
    assert row["speedup"] > 10

    shutil.rmtree(pytester.path / ".autolab")
    result = pytester.runpytest("tasks", "--autolab-agent=nop", "--autolab-sandbox=local")
    assert result.ret == 0
    row = results_by_task(pytester.path)["flash_attention"]
    assert row["n"] == pytest.approx(0.0, abs=0.01)
    assert row["reward"] == 0.0


@pytest.mark.slow
def test_flash_attention_hard_coding_the_public_output_scores_zero_on_the_hidden_seed(
    pytester: pytest.Pytester,
) -> None:
    copy_task(pytester, "flash_attention")
    pytester.makepyfile(flash_agents=FLASH_AGENTS)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "tasks",
        "--autolab-agent=flash_agents:HardCodesPublicOutput",
        "--autolab-sandbox=local",
        "-p",
        "no:cacheprovider",
    )
    # On the public seed the cheat passes and looks like a huge win ...
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    ledger = [
        json.loads(line) for line in (run_dir / "flash_attention" / "ledger.jsonl").read_text().splitlines()
    ]
    assert len(ledger) == 1
    assert ledger[0]["correct"] is True
    assert ledger[0]["reward"] > 0.5
    # ... and on the hidden seed its benchmark output is wrong: reward 0.
    result.stdout.fnmatch_lines(["*benchmark: out*expected*"])
    row = results_by_task(pytester.path)["flash_attention"]
    assert (row["status"], row["reward"]) == ("incorrect", 0.0)
    assert "test_instructions" in row["reason"]
