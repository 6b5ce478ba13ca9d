"""Rung: the reference's cleaning (off-domain, near-duplicates, flipped labels), then a
uniform draw from what is left: no balancing of categories or classes."""

from __future__ import annotations

import numpy as np

BLOCK = 6
DUP_RADIUS = 0.3
K_NEIGHBOURS = 15
#: Squared distance (in units of the in-domain noise) beyond which a sample is off-domain:
#: the 99.9 % quantile of chi-square with 6 degrees of freedom is 22.5.
OFF_DOMAIN_D2 = 22.5


def _block(features: np.ndarray, category: int) -> np.ndarray:
    return features[:, category * BLOCK : (category + 1) * BLOCK].astype(np.float64) / 8.0


def _pairwise_d2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T


def _centres(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    centres = np.stack(
        [np.median(x[y == k], axis=0) if np.any(y == k) else x.mean(0) for k in range(n_classes)]
    )
    for _ in range(3):
        nearest = np.argmin(_pairwise_d2(x, centres), axis=1)
        for k in range(n_classes):
            own = x[(y == k) & (nearest == k)]
            if len(own) >= 5:
                centres[k] = own.mean(0)
    return centres


def _clean_category(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Boolean mask of the samples of one category worth keeping."""
    keep = np.ones(len(x), dtype=bool)
    centres = _centres(x, y, n_classes)
    d2 = _pairwise_d2(x, centres)
    keep &= d2.min(axis=1) <= OFF_DOMAIN_D2
    # near-duplicates and neighbour agreement, on the in-domain samples
    idx = np.flatnonzero(d2.min(axis=1) <= OFF_DOMAIN_D2)
    xi, yi = x[idx], y[idx]
    duplicate = np.zeros(len(idx), dtype=bool)
    label_counts = np.bincount(yi, minlength=n_classes)
    agree = np.zeros(len(idx), dtype=bool)
    for start in range(0, len(idx), 2048):
        rows = slice(start, start + 2048)
        d = _pairwise_d2(xi[rows], xi)
        n_rows = d.shape[0]
        d[np.arange(n_rows), np.arange(start, start + n_rows)] = np.inf
        # a copy of an earlier sample
        earlier = np.arange(len(idx))[None, :] < np.arange(start, start + n_rows)[:, None]
        duplicate[rows] = np.any((d < DUP_RADIUS**2) & earlier, axis=1)
        # neighbour vote, with copies of the sample itself left out
        d[d < DUP_RADIUS**2] = np.inf
        nearest = np.argpartition(d, K_NEIGHBOURS, axis=1)[:, :K_NEIGHBOURS]
        votes = np.zeros((n_rows, n_classes))
        np.add.at(votes, (np.repeat(np.arange(n_rows), K_NEIGHBOURS), yi[nearest].ravel()), 1.0)
        # each vote weighs 1 / (how many samples carry that label): a rare class's samples are
        # not outvoted by the tails of the common classes around them
        votes /= np.maximum(label_counts, 1)[None, :]
        agree[rows] = np.argmax(votes, axis=1) == yi[rows]
    keep[idx[duplicate | ~agree]] = False
    return keep


def select(features: np.ndarray, labels: np.ndarray, categories: np.ndarray, k: int) -> list[int]:
    n_categories = int(categories.max()) + 1
    n_classes = int(labels.max()) + 1
    rng = np.random.default_rng(0)
    keep = np.zeros(len(labels), dtype=bool)
    for c in range(n_categories):
        members = np.flatnonzero(categories == c)
        keep[members] = _clean_category(_block(features[members], c), labels[members], n_classes)
    kept = np.flatnonzero(keep)
    chosen = [int(i) for i in rng.permutation(kept)[:k]]
    if len(chosen) < k:
        rest = np.setdiff1d(np.arange(len(labels)), chosen)
        chosen += [int(i) for i in rng.permutation(rest)[: k - len(chosen)]]
    return chosen
