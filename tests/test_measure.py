"""Callgrind counts: exact, repeatable, and a clear error without valgrind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from pytest_autolab.measure import CallgrindError, callgrind, estimated_cycles, parse_callgrind_totals
from pytest_autolab.sandboxes import ExecResult
from pytest_autolab.sandboxes.local import LocalBackend, LocalSandbox
from pytest_autolab.tasks import load_task

from .conftest import MakeTask

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), s = 0;
    for (long i = 0; i < n; i++) s += i * i;
    printf("%ld\n", s);
    return 0;
}
"""

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


@pytest.fixture
def box(make_task: MakeTask) -> Iterator[LocalSandbox]:
    task = load_task(make_task(environment={"value.txt": "1\n", "loop.c": LOOP_C}))
    with LocalBackend(run_id="test-measure").start(task, role="verify", labels={}) as sandbox:
        assert sandbox.exec("gcc -O1 -o loop loop.c").ok
        yield sandbox


@needs_valgrind
def test_counts_are_exact_and_repeatable(box: LocalSandbox) -> None:
    small = [callgrind(box, "./loop 100000").instructions for _ in range(3)]
    large = callgrind(box, "./loop 1000000")
    assert small[0] == small[1] == small[2]
    assert large.result.stdout.strip() == str(sum(i * i for i in range(1_000_000)))
    # Ten times the iterations: about ten times the loop's instructions on top of start-up.
    per_iteration = (large.instructions - small[0]) / 900_000
    assert 2 <= per_iteration <= 12
    assert large.cycles is None


@needs_valgrind
def test_cache_simulation_gives_a_cycle_estimate(box: LocalSandbox) -> None:
    counts = callgrind(box, "./loop 1000", cache_sim=True)
    assert counts.cycles is not None
    assert counts.cycles >= counts.instructions
    assert {"Ir", "D1mr", "DLmr"} <= counts.events.keys()


@needs_valgrind
def test_a_failing_program_is_reported_with_its_output(box: LocalSandbox) -> None:
    with pytest.raises(CallgrindError, match="failed under Callgrind"):
        callgrind(box, "./loop")  # no argument: atol(NULL) crashes


def test_missing_valgrind_is_a_clear_error() -> None:
    class NoValgrind:
        workdir = "/app"

        def exec(self, command: str, **kwargs: object) -> ExecResult:
            return ExecResult(1, "", "")

    with pytest.raises(CallgrindError, match="valgrind is not installed in the sandbox: install it"):
        callgrind(NoValgrind(), "./loop 1")  # type: ignore[arg-type]


def test_totals_are_parsed_and_cycles_estimated() -> None:
    text = "version: 1\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nfn=main\n1 2 3\nsummary: 1000 10 10 1 2 3 1 1 0\n"
    events = parse_callgrind_totals(text)
    assert events["Ir"] == 1000
    assert estimated_cycles(events) == 1000 + 10 * 6 + 100 * 2
    with pytest.raises(CallgrindError, match="no 'events:'"):
        parse_callgrind_totals("garbage")
