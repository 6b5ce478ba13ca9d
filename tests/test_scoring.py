"""Scoring is pure: properties over all anchors and metrics (Hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_autolab.scoring import improvement, normalized_score, reward, speedup

positive = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)
scales = st.sampled_from(["log", "linear"])


def anchors_differ(b: float, r: float) -> bool:
    return not math.isclose(b, r, rel_tol=1e-6)


@given(b=positive, r=positive, scale=scales)
def test_n_is_zero_at_the_baseline_and_one_at_the_reference(b: float, r: float, scale: str) -> None:
    assume(anchors_differ(b, r))
    assert normalized_score(b, b, r, scale=scale) == pytest.approx(0.0, abs=1e-9)  # type: ignore[arg-type]
    assert normalized_score(r, b, r, scale=scale) == pytest.approx(1.0)  # type: ignore[arg-type]


@given(b=positive, r=positive, m1=positive, m2=positive, scale=scales)
def test_n_is_monotone_towards_the_reference(b: float, r: float, m1: float, m2: float, scale: str) -> None:
    """Moving the metric towards the reference's side never lowers n, in both directions."""
    assume(anchors_differ(b, r))
    lower_is_better = r < b
    better, worse = (min(m1, m2), max(m1, m2)) if lower_is_better else (max(m1, m2), min(m1, m2))
    n_better = normalized_score(better, b, r, scale=scale)  # type: ignore[arg-type]
    n_worse = normalized_score(worse, b, r, scale=scale)  # type: ignore[arg-type]
    assert n_better >= n_worse - 1e-9


@given(n=st.floats(allow_nan=False), ref=st.floats(min_value=0.01, max_value=1.0))
def test_reward_is_clipped_to_the_unit_interval(n: float, ref: float) -> None:
    assert 0.0 <= reward(n, ref_reward=ref) <= 1.0


@given(n=st.floats(allow_nan=False, allow_infinity=False), ref=st.floats(min_value=0.01, max_value=1.0))
def test_an_incorrect_submission_scores_zero(n: float, ref: float) -> None:
    assert reward(n, ref_reward=ref, correct=False) == 0.0


def test_missing_or_nan_scores_zero() -> None:
    assert reward(None, ref_reward=1.0) == 0.0
    assert reward(math.nan, ref_reward=1.0) == 0.0


def test_log_scale_gives_half_credit_at_the_reference_and_full_at_its_square() -> None:
    # AutoLab's rule for speedups: ref_reward 0.5, so reference**2 earns 1.0.
    b, r = 1e9, 1e8
    assert reward(normalized_score(r, b, r, scale="log"), ref_reward=0.5) == pytest.approx(0.5)
    assert reward(normalized_score(1e7, b, r, scale="log"), ref_reward=0.5) == pytest.approx(1.0)
    # A 10x speedup where 100x is the reference still earns credit.
    assert reward(normalized_score(1e8, b, 1e7, scale="log"), ref_reward=0.5) == pytest.approx(0.25)


def test_linear_scale_sorting_network_anchors() -> None:
    assert normalized_score(60, 80, 60, scale="linear") == 1.0
    assert normalized_score(70, 80, 60, scale="linear") == 0.5
    assert normalized_score(90, 80, 60, scale="linear") == -0.5  # regressions stay visible
    assert reward(-0.5, ref_reward=1.0) == 0.0


def test_higher_is_better_works_the_same_way() -> None:
    assert normalized_score(0.48, 0.38, 0.48, scale="linear") == pytest.approx(1.0)
    assert normalized_score(0.43, 0.38, 0.48, scale="linear") == pytest.approx(0.5)
    assert speedup(2.0, 1.0, direction="higher") == 2.0
    assert speedup(1.0, 2.0, direction="lower") == 2.0


def test_zero_count_on_a_log_scale_is_infinitely_good() -> None:
    assert normalized_score(0, 100, 10, scale="log") == math.inf
    assert reward(math.inf, ref_reward=0.5) == 1.0


def test_equal_anchors_and_unknown_scales_are_refused() -> None:
    with pytest.raises(ValueError, match="equal"):
        normalized_score(1, 5, 5, scale="log")
    with pytest.raises(ValueError, match="unknown scale"):
        normalized_score(1, 5, 2, scale="cubic")  # type: ignore[arg-type]


def test_improvement_is_relative_and_signed_in_both_directions() -> None:
    assert improvement(90, 100, direction="lower") == pytest.approx(0.1)
    assert improvement(110, 100, direction="lower") == pytest.approx(-0.1)
    assert improvement(0.5, 0.4, direction="higher") == pytest.approx(0.25)
    assert improvement(100, 100, direction="higher") == 0.0


def test_the_scoring_module_examples_hold() -> None:
    import doctest

    from pytest_autolab import scoring

    failed, attempted = doctest.testmod(scoring)
    assert attempted >= 10
    assert failed == 0
