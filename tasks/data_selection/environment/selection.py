"""Pick the training set: k of the pool's samples (editable; the only file that is scored).

The shipped version is a stratified random sample: from every (category, label) cell it takes
that cell's share of k (largest remainder), at random within the cell (a fixed seed). The
verifier computes that same selection itself: its test error is the yardstick of the metric.
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
    cell = categories.astype(np.int64) * (int(labels.max()) + 1) + labels
    counts = np.bincount(cell)
    exact = counts * k / len(labels)
    take = np.floor(exact).astype(np.int64)
    take[np.argsort(take - exact, kind="stable")[: k - int(take.sum())]] += 1
    chosen = [rng.permutation(np.flatnonzero(cell == c))[: take[c]] for c in range(len(counts))]
    return np.concatenate(chosen).tolist()
