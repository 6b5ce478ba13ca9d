"""Rung: balance categories and classes (by the observed labels), clean nothing."""

from __future__ import annotations

import numpy as np


def select(features: np.ndarray, labels: np.ndarray, categories: np.ndarray, k: int) -> list[int]:
    rng = np.random.default_rng(0)
    cells = [
        list(rng.permutation(np.flatnonzero((categories == c) & (labels == y))))
        for c in range(int(categories.max()) + 1)
        for y in range(int(labels.max()) + 1)
    ]
    chosen: list[int] = []
    while len(chosen) < k:
        for cell in cells:
            if cell and len(chosen) < k:
                chosen.append(int(cell.pop()))
    return chosen
