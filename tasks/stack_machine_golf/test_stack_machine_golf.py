"""Verifier of stack_machine_golf: polynomial evaluation on a small stack machine, in fewest steps.

The submission is program text (poly.asm), read out of the sandbox as bytes and never run there:
the task's own pristine ``environment/stackvm.py`` (loaded from the task folder, not from the
sandbox) assembles and interprets it here, in the pytest process. The machine defines every
fault (stack underflow or overflow, a read outside the input, running past the last instruction,
the step limit) as a failed run, so there is no undefined behaviour to lean on.

Correctness: fixed edge cases, then Hypothesis-drawn inputs (every degree and number of points
up to well past the benchmark's, values over the whole 64-bit range) seeded from
``submission.seed``, then the benchmark itself: fixed shapes with values drawn from the seed,
each output checked. The metric is the number of steps (executed instructions) summed over the
benchmark.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from pytest_autolab import Submission, pristine_module


def _load_vm():
    """The trusted copy of stackvm.py."""
    return pristine_module(__file__, "stackvm.py")


vm = _load_vm()

INT64 = st.integers(min_value=vm.INT_MIN, max_value=vm.INT_MAX)
#: Values of every flavour: small ones (where a wrong answer is easy to read), the benchmark's
#: ranges, and the whole 64-bit range (where arithmetic wraps).
VALUES = st.one_of(st.integers(-3, 3), st.integers(-vm.COEFFICIENT_RANGE, vm.COEFFICIENT_RANGE), INT64)
MAX_DEGREE = 48
MAX_POINTS = 12


@pytest.fixture(scope="module")
def assembled(submission: Submission):
    """The assembled program, or the reason there is none."""
    try:
        raw = submission.read_file("poly.asm")
    except Exception as exc:  # missing, a directory, a link: the submission's fault
        return f"cannot read poly.asm: {exc}"
    try:
        return vm.assemble(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"poly.asm is not UTF-8 text: {exc}"
    except vm.AssemblyError as exc:
        return f"poly.asm does not assemble: {exc}"


@pytest.fixture(scope="module")
def program(assembled):
    if isinstance(assembled, str):
        pytest.fail(f"no program (see test_program_assembles): {assembled}", pytrace=False)
    return assembled


def check(program, coefficients: list[int], points: list[int]):
    """Run one input; a fault or a wrong output fails the test with the machine's message."""
    try:
        return vm.check(program, coefficients, points)
    except (vm.MachineError, AssertionError) as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def test_program_assembles(assembled) -> None:
    if isinstance(assembled, str):
        pytest.fail(assembled, pytrace=False)


EDGE_CASES = {
    "no_points": ([5], []),
    "degree_0": ([7], [3]),
    "zero_polynomial": ([0], [0, 1, -1]),
    "x_0_1_-1": ([1, 1], [0, 1, -1, 2]),
    "monomial": ([0, 0, 0, 0, 1], [2, -2, 3]),
    "small": ([3, -2, 5], [2, -1, 0, 10]),
    "degree_40": (list(range(-20, 21)), [1, -1, 0]),
    "wraps": ([vm.INT_MAX, vm.INT_MIN, -1], [vm.INT_MAX, vm.INT_MIN, -1, 2**32]),
    "degree_48": ([1] * 49, [2]),
    "zero_coefficients": ([0] * 17, [5, 7]),
}


@pytest.mark.parametrize(("coefficients", "points"), list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_edge_cases(program, coefficients: list[int], points: list[int]) -> None:
    check(program, coefficients, points)


def test_random_inputs(program, submission: Submission) -> None:
    """Every degree from 0 to 48 and 0 to 12 points (the benchmark's shapes are among them, but
    nothing favours them), values from tiny to the whole 64-bit range."""

    # A program that fails a plain input fails here at once (test_edge_cases says why), rather
    # than after Hypothesis has shrunk every way it fails.
    for coefficients, points in list(EDGE_CASES.values())[:6]:
        check(program, coefficients, points)

    @seed(submission.seed)
    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
        # One failure, shrunk to a small input, is what the agent needs; no explain phase.
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    )
    @given(
        coefficients=st.lists(VALUES, min_size=1, max_size=MAX_DEGREE + 1),
        points=st.lists(VALUES, min_size=0, max_size=MAX_POINTS),
    )
    def correct(coefficients: list[int], points: list[int]) -> None:
        check(program, coefficients, points)

    correct()


def test_every_shape(program, submission: Submission) -> None:
    """Each degree 0 ... 48 once, with a number of points drawn from the seed."""
    rng = random.Random(f"shapes/{submission.seed}")
    for degree in range(MAX_DEGREE + 1):
        coefficients = [rng.randint(-100, 100) for _ in range(degree + 1)]
        points = [rng.randint(-9, 9) for _ in range(rng.randint(1, 4))]
        check(program, coefficients, points)


def test_steps(program, record_metric, submission: Submission) -> None:
    """The metric: steps summed over the benchmark (fixed shapes, values from the seed), every
    output checked."""
    total = 0
    for coefficients, points in vm.benchmark_inputs(submission.seed):
        total += check(program, coefficients, points).steps
    record_metric(total)
