"""Reference selection: clean the pool, then balance it.

1. Off-domain samples: per category, estimate each class's centre robustly (a
   median of the samples carrying that label, refined on the samples nearest to it)
   and drop samples whose squared distance to every centre is far beyond what the
   in-domain spread allows (unit-variance noise in 6 dimensions: chi-square, 6 d.o.f.).
2. Near-duplicates: samples of one category closer than DUP_RADIUS to an earlier
   sample are dropped (one survivor per cluster of copies).
3. Flipped labels: a sample is kept only if its label wins the vote of its
   K_NEIGHBOURS nearest neighbours, each vote weighted by 1 / (the number of samples
   with that label in the category), so that a rare class is not outvoted by the
   common ones around it. Asymmetric flips (a share of one class relabelled as
   another) are caught because the flipped samples sit among the class they came from.
4. Balance: the same number of samples per category and per class within a category,
   drawn at random among the survivors; where a cell runs short, its share goes to the
   other classes of its category, then to the other categories.
"""

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
    cells = {
        (c, y): list(rng.permutation(np.flatnonzero(keep & (categories == c) & (labels == y))))
        for c in range(n_categories)
        for y in range(n_classes)
    }
    chosen: list[int] = []
    # water-filling: raise a common per-cell quota until k samples are taken
    quota = 0
    while len(chosen) < k and any(cells.values()):
        quota += 1
        for cell in cells.values():
            if cell and len(chosen) < k:
                chosen.append(int(cell.pop()))
    if len(chosen) < k:  # not enough clean samples: fill with the rest at random
        rest = np.setdiff1d(np.arange(len(labels)), chosen)
        chosen += [int(i) for i in rng.permutation(rest)[: k - len(chosen)]]
    return chosen
