"""Scoring: pure functions from a metric and two anchors to a reward.

For a metric m with baseline b and reference r::

    log scale:     n = ln(b/m) / ln(b/r)
    linear scale:  n = (b - m) / (b - r)
    reward = clip(ref_reward * n, 0, 1)          incorrect or missing -> 0

Both formulas are direction-free: they are 0 at the baseline and 1 at the
reference whichever way the metric improves. ``n`` is reported unclipped so
that regressions (n < 0) and work beyond the reference (n > 1) stay visible.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["improvement", "normalized_score", "reward", "speedup"]


def normalized_score(
    metric: float, baseline: float, reference: float, *, scale: Literal["log", "linear"]
) -> float:
    """n: 0 at the baseline, 1 at the reference, unclipped.

    >>> normalized_score(60, 80, 60, scale="linear")
    1.0
    >>> round(normalized_score(10, 100, 10, scale="log"), 6)
    1.0
    """
    if baseline == reference:
        raise ValueError(f"baseline and reference are equal ({baseline!r}): n is undefined")
    if scale == "linear":
        return (baseline - metric) / (baseline - reference)
    if scale == "log":
        if metric <= 0 or baseline <= 0 or reference <= 0:
            if metric <= 0 < baseline and reference > 0:
                # A count of zero (or less) on a log scale is infinitely good
                # when lower is better and infinitely bad when higher is.
                return math.inf if reference < baseline else -math.inf
            raise ValueError(
                f"log scale needs positive values (metric={metric!r}, "
                f"baseline={baseline!r}, reference={reference!r})"
            )
        return math.log(baseline / metric) / math.log(baseline / reference)
    raise ValueError(f"unknown scale {scale!r}: expected 'log' or 'linear'")


def reward(n: float | None, *, ref_reward: float, correct: bool = True) -> float:
    """clip(ref_reward * n, 0, 1); 0 when incorrect or when there is no score.

    >>> reward(1.0, ref_reward=0.5)
    0.5
    >>> reward(2.0, ref_reward=0.5, correct=False)
    0.0
    """
    if not correct or n is None or math.isnan(n):
        return 0.0
    return min(1.0, max(0.0, ref_reward * n))


def speedup(metric: float, baseline: float, *, direction: Literal["lower", "higher"]) -> float:
    """How many times better than the baseline (b/m when lower is better, m/b otherwise)."""
    if direction == "lower":
        return math.inf if metric <= 0 else baseline / metric
    return math.inf if baseline <= 0 else metric / baseline


def improvement(metric: float, baseline: float, *, direction: Literal["lower", "higher"]) -> float:
    """Relative improvement over the baseline: 0.25 = a quarter better, negative = worse.

    Rewards are gated on it (task.toml ``[autolab] min_improvement``), so that the
    untouched baseline scores 0 even where the metric moves a hair between environments.
    """
    if baseline == 0:
        return math.inf if (metric < 0 if direction == "lower" else metric > 0) else 0.0
    change = (baseline - metric) if direction == "lower" else (metric - baseline)
    return change / abs(baseline)
