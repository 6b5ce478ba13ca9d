"""Scoring: pure functions from a metric and two anchors to a reward.

For a metric m with baseline b and reference r::

    log scale:     n = ln(b/m) / ln(b/r)
    linear scale:  n = (b - m) / (b - r)
    reward = clip(ref_reward * n, 0, 1)          incorrect or missing -> 0

Both formulas are direction-free: they are 0 at the baseline and 1 at the
reference whichever way the metric improves. ``n`` is reported unclipped so
that regressions (n < 0) and work beyond the reference (n > 1) stay visible.

``score(...)`` turns what a task's verifier found into a status and a reward: the
one place the statuses (scored, incorrect, incomplete, no_metric, error) and the
``min_improvement`` gate are decided. ``beats`` decides which evaluation is the best.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["Score", "beats", "improvement", "normalized_score", "reward", "score", "speedup"]


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


def beats(n: float | None, best: float | None) -> bool:
    """Whether a correct evaluation's ``n`` makes it the best so far (a tie keeps the earlier).

    >>> beats(0.5, None), beats(0.5, 0.5), beats(0.6, 0.5), beats(None, 0.5)
    (True, False, True, False)
    """
    return n is not None and (best is None or n > best)


@dataclasses.dataclass(frozen=True)
class Score:
    """What the verifier's findings come to (``score``)."""

    #: scored | incorrect | incomplete | no_metric | error
    status: str
    #: A sentence on why the status (or the reward) is what it is; "" for a plain score.
    reason: str = ""
    #: Every correctness test passed and a metric was recorded.
    correct: bool = False
    n: float | None = None
    reward: float = 0.0
    speedup: float | None = None


def score(
    metric: float | None,
    *,
    baseline: float,
    reference: float,
    scale: Literal["log", "linear"],
    direction: Literal["lower", "higher"],
    ref_reward: float,
    min_improvement: float = 0.0,
    failures: Sequence[str] = (),
    harness_errors: Sequence[str] = (),
    missing: Sequence[str] = (),
) -> Score:
    """The status and reward of a submission from what its verifier found.

    A harness failure leaves no verdict (error); one failing test is enough for reward 0
    (incorrect), whatever did not run; a verifier that ran in part scores nothing
    (incomplete); a passing one must have recorded a metric. A metric that improves on
    the baseline by less than ``min_improvement`` earns reward 0 (its n is still given).

    >>> anchors = dict(baseline=100.0, reference=10.0, scale="log", direction="lower", ref_reward=0.5)
    >>> score(10.0, **anchors)
    Score(status='scored', reason='', correct=True, n=1.0, reward=0.5, speedup=10.0)
    >>> score(10.0, failures=["test_sorted (call): assert [2, 1] == [1, 2]"], **anchors).status
    'incorrect'
    >>> score(None, missing=["test_x.py::test_metric"], **anchors).status
    'incomplete'
    >>> score(None, **anchors).reason
    'the verifier passed but recorded no metric (record_metric was not called)'
    >>> gated = score(99.0, min_improvement=0.02, **anchors)
    >>> gated.status, gated.reward, gated.reason
    ('scored', 0.0, "improvement 1.00% is under the task's gate of 2.00%: reward 0")
    """
    if harness_errors:
        return Score("error", f"the harness failed during verification, no verdict: {harness_errors[0]}")
    if failures:
        return Score("incorrect", f"{len(failures)} verifier test(s) failed: {failures[0]}")
    if missing:
        total = len(missing)
        names = ", ".join(m.rsplit("::", 1)[-1] for m in missing[:3]) + (", ..." if total > 3 else "")
        return Score(
            "incomplete",
            f"not scored: {total} verifier test(s) did not run ({names}); a task is scored only "
            "when its whole verifier runs (no -k, node ids, --lf, --deselect or -x)",
        )
    if metric is None:
        return Score("no_metric", "the verifier passed but recorded no metric (record_metric was not called)")
    n = normalized_score(metric, baseline, reference, scale=scale)
    gain = improvement(metric, baseline, direction=direction)
    earned = reward(n, ref_reward=ref_reward)
    reason = ""
    if gain < min_improvement:
        earned = 0.0
        reason = f"improvement {gain:.2%} is under the task's gate of {min_improvement:.2%}: reward 0"
    return Score(
        "scored",
        reason,
        correct=True,
        n=n,
        reward=earned,
        speedup=speedup(metric, baseline, direction=direction),
    )
