"""Pick the training set: k of the pool's samples (editable; the only file that is scored).

The shipped version picks k samples uniformly at random (a fixed seed). The verifier
computes that same random selection itself: its test error is the yardstick of the metric.
"""

from __future__ import annotations

import numpy as np


def select(features: np.ndarray, labels: np.ndarray, categories: np.ndarray, k: int) -> list[int]:
    """Return k distinct indices into the pool (0 <= i < len(labels)).

    features:   (N, 36) int8, the model's inputs (value / 8)
    labels:     (N,) int8, the observed class 0..5 of each sample (some are wrong)
    categories: (N,) int8, the category 0..5 of each sample
    """
    rng = np.random.default_rng(0)
    return rng.choice(len(labels), size=k, replace=False).tolist()
