"""Timed metrics: the paired statistics (pure) and the interleaved measurement."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_autolab.sandboxes import ExecResult
from pytest_autolab.sandboxes.local import LocalBackend, LocalSandbox
from pytest_autolab.tasks import load_task
from pytest_autolab.timing import (
    Timing,
    TimingError,
    hodges_lehmann,
    paired_speedup,
    signed_rank_cdf,
    timed,
    timed_run,
)

from .conftest import MakeTask

# --- the signed-rank distribution and the Hodges-Lehmann interval ----------------------------------


def test_signed_rank_distribution_matches_the_textbook_table() -> None:
    cdf = signed_rank_cdf(10)
    assert len(cdf) == 56
    assert cdf[-1] == 1.0
    # Two-sided 5% critical value for n = 10 is 8: P(T <= 8) <= 0.025 < P(T <= 9).
    assert cdf[8] == pytest.approx(25 / 1024)
    assert cdf[9] > 0.025
    assert signed_rank_cdf(0) == [1.0]


@given(n=st.integers(min_value=1, max_value=25))
def test_signed_rank_distribution_is_symmetric(n: int) -> None:
    cdf = signed_rank_cdf(n)
    pmf = [cdf[0]] + [b - a for a, b in itertools.pairwise(cdf)]
    assert pmf == pytest.approx(pmf[::-1])


def test_ten_rounds_give_the_exact_95_percent_interval() -> None:
    values = [0.1 * i for i in range(10)]
    estimate, low, high, achieved = hodges_lehmann(values, 0.95)
    walsh = sorted((values[i] + values[j]) / 2 for i in range(10) for j in range(i, 10))
    assert estimate == pytest.approx(0.45)
    assert (low, high) == (walsh[8], walsh[-9])
    assert achieved == pytest.approx(1 - 2 * 25 / 1024)


def test_too_few_rounds_give_the_full_range_with_the_coverage_it_has() -> None:
    estimate, low, high, achieved = hodges_lehmann([3.0, 1.0, 2.0], 0.95)
    assert (estimate, low, high) == (2.0, 1.0, 3.0)
    assert achieved == pytest.approx(0.75)


@given(
    values=st.lists(st.floats(min_value=-5, max_value=5, allow_nan=False), min_size=1, max_size=30),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_the_interval_holds_the_estimate(values: list[float], confidence: float) -> None:
    estimate, low, high, _ = hodges_lehmann(values, confidence)
    assert min(values) <= low <= estimate <= high <= max(values)


def test_the_interval_covers_the_true_centre_about_as_often_as_promised() -> None:
    rng = random.Random(12)
    trials, covered = 400, 0
    for _ in range(trials):
        _, low, high, _ = hodges_lehmann([rng.gauss(0.3, 1.0) for _ in range(12)], 0.95)
        covered += low <= 0.3 <= high
    assert 0.92 <= covered / trials <= 0.99


# --- paired speedups ---------------------------------------------------------------------------------


def test_speedup_is_baseline_time_over_submission_time_per_round() -> None:
    submission = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.8, 1.2]
    baseline = [2 * t for t in submission]  # every round exactly twice as fast, whatever its load
    speedup, low, high, _ = paired_speedup(submission, baseline)
    assert (speedup, low, high) == pytest.approx((2.0, 2.0, 2.0))


def test_pairs_cancel_a_load_that_changes_between_rounds() -> None:
    rng = random.Random(5)
    load = [rng.uniform(1, 4) for _ in range(12)]  # the machine's slowdown in each round
    submission = [0.25 * f * rng.uniform(0.97, 1.03) for f in load]
    baseline = [1.0 * f * rng.uniform(0.97, 1.03) for f in load]
    _speedup, low, high, _ = paired_speedup(submission, baseline)
    assert low <= 4.0 <= high
    assert high / low < 1.06


def test_speedup_and_slowdown_are_symmetric() -> None:
    a, b = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0], [2.1, 2.0, 1.9, 2.05, 2.2, 1.8]
    up = paired_speedup(a, b)
    down = paired_speedup(b, a)
    assert up[0] == pytest.approx(1 / down[0])
    assert (up[1], up[2]) == pytest.approx((1 / down[2], 1 / down[1]))


def test_unpaired_or_non_positive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="unpaired"):
        paired_speedup([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        paired_speedup([1.0, 0.0], [1.0, 1.0])


def _runs(submission: list[float], baseline: list[float], warmup: int = 1) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for r in range(-warmup, len(submission)):
        pair = [
            ("submission", submission[r] if r >= 0 else 9.0),
            ("baseline", baseline[r] if r >= 0 else 9.0),
        ]
        for who, t in pair if r % 2 == 0 else pair[::-1]:
            runs.append({"who": who, "round": r, "wall_s": t, "cpu_s": t / 2})
    return runs


def test_an_interval_that_contains_one_scores_as_the_baseline() -> None:
    submission = [1.0] * 10
    baseline = [0.8, 1.25, 0.9, 1.1, 1.0, 0.85, 1.15, 0.95, 1.05, 1.02]  # about 1, either way
    timing = Timing.from_runs(_runs(submission, baseline), clock="wall")
    assert timing.low <= 1.0 <= timing.high
    assert not timing.significant
    assert timing.score == 1.0
    assert timing.to_json()["score"] == 1.0


def test_a_significant_speedup_is_scored_as_measured() -> None:
    submission = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03, 0.97]
    baseline = [3.0 * t for t in (1.0, 0.99, 1.01, 1.0, 1.02, 0.98, 1.0, 1.01)]
    timing = Timing.from_runs(_runs(submission, baseline), clock="wall")
    assert timing.significant
    assert timing.score == timing.speedup == pytest.approx(3.0, rel=0.02)


def test_a_significant_slowdown_keeps_its_value() -> None:
    timing = Timing.from_runs(_runs([2.0, 2.1, 1.9, 2.0, 2.05, 1.95], [1.0] * 6), clock="wall")
    assert timing.significant
    assert timing.score == timing.speedup < 1


def test_the_same_runs_always_give_the_same_result() -> None:
    rng = random.Random(8)
    submission = [rng.uniform(0.5, 1.5) for _ in range(10)]
    baseline = [rng.uniform(1.0, 3.0) for _ in range(10)]
    first = Timing.from_runs(_runs(submission, baseline), clock="wall").to_json()
    second = Timing.from_runs(_runs(submission, baseline), clock="wall").to_json()
    assert first == second


def test_runs_record_both_clocks_and_the_alternating_order() -> None:
    timing = Timing.from_runs(_runs([1.0] * 4, [2.0] * 4), clock="wall")
    assert timing.order == ("AB", "BA", "AB", "BA")
    assert timing.warmup == 1
    assert timing.rounds == 4
    assert timing.ratios == (2.0, 2.0, 2.0, 2.0)
    cpu = timing.with_clock("cpu")
    assert cpu.submission_s == (0.5, 0.5, 0.5, 0.5)
    assert cpu.speedup == pytest.approx(2.0)


# --- the measurement, in a real local sandbox ----------------------------------------------------------


@pytest.fixture
def sandbox(make_task: MakeTask) -> Iterator[LocalSandbox]:
    task = load_task(make_task())
    backend = LocalBackend(run_id="test-timing")
    with backend.start(task, role="verify", labels={}) as box:
        yield box
    backend.sweep()


def test_a_timed_run_returns_the_program_output_without_the_report(sandbox: LocalSandbox) -> None:
    result, report = timed_run(sandbox, "echo out; echo err >&2; sleep 0.1", timeout=30)
    assert result.ok
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert 0.1 <= report["wall_s"] < 5
    assert report["stragglers"] == 0


def test_work_left_to_a_detached_child_is_timed(sandbox: LocalSandbox) -> None:
    _, report = timed_run(sandbox, "(sleep 0.4; echo done > late.txt) & echo started", timeout=30)
    assert report["wall_s"] >= 0.4
    assert sandbox.read_file("late.txt") == b"done\n"


def test_a_process_left_running_is_killed_and_fails_the_measurement(sandbox: LocalSandbox) -> None:
    with pytest.raises(TimingError, match="left 1 process"):
        timed(sandbox, "setsid sleep 60 & true", "true", rounds=1, warmup=0, linger=0.3, timeout=30)


def test_every_run_is_checked_in_alternating_order(sandbox: LocalSandbox) -> None:
    seen: list[tuple[int, str, str]] = []

    def check(result: ExecResult, round_index: int, who: str) -> None:
        seen.append((round_index, who, result.stdout.strip()))

    timing = timed(
        sandbox,
        lambda r: f"echo A{r}",
        lambda r: f"echo B{r}",
        rounds=3,
        warmup=1,
        check=check,
    )
    assert seen == [
        (-1, "baseline", "B-1"), (-1, "submission", "A-1"),
        (0, "submission", "A0"), (0, "baseline", "B0"),
        (1, "baseline", "B1"), (1, "submission", "A1"),
        (2, "submission", "A2"), (2, "baseline", "B2"),
    ]  # fmt: skip
    assert timing.rounds == 3
    assert len(timing.runs) == 8


def test_a_failing_run_or_check_stops_the_measurement(sandbox: LocalSandbox) -> None:
    with pytest.raises(TimingError, match="exit code 3"):
        timed(sandbox, "exit 3", "true", rounds=2)

    def check(result: ExecResult, round_index: int, who: str) -> None:
        assert who == "baseline", "wrong output"

    with pytest.raises(AssertionError, match="wrong output"):
        timed(sandbox, "true", "true", rounds=2, check=check)


def test_a_slower_command_is_measured_as_slower(sandbox: LocalSandbox) -> None:
    timing = timed(sandbox, "sleep 0.02", "sleep 0.2", rounds=6, warmup=0)
    assert timing.significant
    assert timing.speedup > 2
    assert math.isfinite(timing.high)


def test_evaluate_tells_the_agent_the_raw_speedup_and_its_interval() -> None:
    from pytest_autolab.evaluation import Evaluation
    from pytest_autolab.results import TaskResult

    timing = Timing.from_runs(
        _runs([1.0, 1.1, 0.9, 1.0, 1.05, 0.95], [1.02, 1.0, 1.01, 0.99, 1.0, 1.02]), clock="cpu"
    )
    result = TaskResult(
        task="t", axis="faster", status="scored", agent="a", metric=timing.score, details=timing.to_json()
    )
    told = Evaluation.from_result(result, 1.0).for_agent()
    assert told["metric"] == 1.0
    assert told["timing"]["speedup"] == pytest.approx(timing.speedup, abs=1e-4)
    assert told["timing"]["significant"] is False
    assert told["timing"]["clock"] == "cpu"
    plain = TaskResult(task="t", axis="faster", status="scored", agent="a", metric=3.0)
    assert "timing" not in Evaluation.from_result(plain, 1.0).for_agent()
