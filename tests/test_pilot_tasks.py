"""The pilot tasks end to end: the oracle at the reference, the baseline at 0, cheats at 0.

Each test copies a real task folder into a pytester directory and runs a real inner session
on the local sandbox (the Docker variants live in test_docker_*.py).
"""

from __future__ import annotations

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
        "tasks", "--autolab-agent=sorting_agents:OneComparatorMoved", "--autolab-sandbox=local", "--autolab-seed=1"
    )
    # Well-formed and deterministic, but both the exhaustive 0-1 check and Hypothesis reject
    # it: Hypothesis finds a failing input by search (not one of the explicit examples).
    result.assert_outcomes(passed=3, failed=2, skipped=1)
    out = result.stdout.str()
    # "Failing test case" in current Hypothesis, "Falsifying example" in older releases.
    assert re.search(r"(Failing test case|Falsifying example): sorts\(", out), out
    assert "explicit example" not in out
    assert "FAILED tasks/discover_sorting/test_discover_sorting.py::test_sorts_arbitrary_integers" in result.stdout.str()
    row = results_by_task(pytester.path)["discover_sorting"]
    assert (row["status"], row["reward"], row["metric"]) == ("incorrect", 0.0, None)
