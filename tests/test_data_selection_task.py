"""The trusted parts of tasks/data_selection: the pool's faults, the trainer, index checks."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from .conftest import REPO, load_module

TASK = REPO / "tasks" / "data_selection"


def load(path: Path, name: str) -> ModuleType:
    return load_module(path, name)


@pytest.fixture(scope="module")
def verifier() -> ModuleType:
    return load(TASK / "test_data_selection.py", "_data_selection_verifier")


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    return load(TASK / "environment" / "trainer.py", "_data_selection_trainer_under_test")


@pytest.fixture(scope="module")
def pool(verifier: ModuleType) -> Any:
    return verifier.make_pool(3)


def test_pool_has_the_declared_share_of_each_fault(verifier: ModuleType, pool: Any) -> None:
    v = verifier
    kinds = np.bincount(pool.kind, minlength=3) / v.POOL_SIZE
    assert kinds[v.KIND_OFF_DOMAIN] == pytest.approx(v.OFF_DOMAIN_SHARE, abs=1e-3)
    assert kinds[v.KIND_DUPLICATE] == pytest.approx(v.DUPLICATE_SHARE, abs=1e-3)
    off = pool.kind == v.KIND_OFF_DOMAIN
    assert np.all(pool.clean[off] == -1)
    assert np.all(pool.clean[~off] >= 0)
    # every duplicate is within jitter of one of DUPLICATE_BASES originals
    duplicates = pool.features[pool.kind == v.KIND_DUPLICATE].astype(np.int64)
    originals = pool.features[pool.kind == v.KIND_CLEAN].astype(np.int64)
    sample = duplicates[:50]
    nearest = np.min(((sample[:, None, :] - originals[None, :, :]) ** 2).sum(-1), axis=1)
    assert np.all(nearest <= 36), "a near-duplicate is far from every original"
    assert len(np.unique(duplicates, axis=0)) < len(duplicates)  # quantised copies coincide


def test_label_noise_follows_the_profiles(verifier: ModuleType, pool: Any) -> None:
    """Symmetric noise by category, 40 % asymmetric flips in three categories, none elsewhere."""
    v = verifier
    clean = pool.kind == v.KIND_CLEAN
    rates = []
    asymmetric = 0
    for c in range(v.N_CATEGORIES):
        rows = clean & (pool.categories == c)
        true, seen = pool.clean[rows], pool.labels[rows]
        flips = np.zeros((v.N_CLASSES, v.N_CLASSES))
        np.add.at(flips, (true, seen), 1)
        share = flips / np.bincount(true, minlength=v.N_CLASSES)[:, None]
        np.fill_diagonal(share, 0)
        dominant = share > 0.3  # one (true, observed) pair: an asymmetric flip
        asymmetric += int(dominant.sum())
        others = ~dominant[true, seen]
        rates.append(float(np.mean(true[others] != seen[others])))
    assert asymmetric == len(v.ASYMMETRIC_RANKS)
    np.testing.assert_allclose(sorted(rates), sorted(v.SYMMETRIC_NOISE), atol=0.03)


def test_pool_is_imbalanced_and_the_test_split_is_not(verifier: ModuleType, pool: Any) -> None:
    v = verifier
    clean = pool.kind == v.KIND_CLEAN
    shares = np.sort(np.bincount(pool.categories[clean], minlength=v.N_CATEGORIES) / clean.sum())
    assert shares == pytest.approx(np.sort(v.CATEGORY_SHARES), abs=0.01)
    counts = np.bincount(pool.clean[clean & (pool.categories == 0)], minlength=v.N_CLASSES)
    assert counts.max() / counts.min() > 6
    features, classes, categories = v.make_test(3)
    cells = np.bincount(categories * v.N_CLASSES + classes)
    assert np.all(cells == v.TEST_PER_CELL)
    assert features.dtype == np.int8
    assert features.shape == (len(classes), v.DIM)


def test_sandbox_file_holds_no_true_labels(verifier: ModuleType, pool: Any) -> None:
    with np.load(io.BytesIO(pool.to_npz()), allow_pickle=False) as data:
        assert sorted(data.files) == ["categories", "features", "labels"]
        assert np.array_equal(data["labels"], pool.labels)


def test_shipped_public_pool_is_the_public_seeds_pool(verifier: ModuleType) -> None:
    public = verifier.make_pool(0)
    with np.load(TASK / "environment" / "pool_public.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["categories", "features", "labels"]
        for key in data.files:
            assert np.array_equal(data[key], getattr(public, key)), key


def test_pools_differ_between_seeds(verifier: ModuleType, pool: Any) -> None:
    other = verifier.make_pool(4)
    assert not np.array_equal(other.features, pool.features)


def test_trainer_is_deterministic_and_ignores_row_order(trainer: ModuleType, pool: Any) -> None:
    rows = np.arange(0, 600)
    a = trainer.train(pool.features[rows], pool.labels[rows], 6)
    b = trainer.train(pool.features[rows[::-1]], pool.labels[rows[::-1]], 6)
    c = trainer.train(pool.features[rows], pool.labels[rows], 6)
    assert np.array_equal(a[0], c[0])
    assert np.array_equal(a[1], c[1])
    # reversed rows: the same sums in another order, equal up to rounding
    np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-12)
    assert np.array_equal(trainer.predict(a, pool.features[:2000]), trainer.predict(b, pool.features[:2000]))


def test_tree_sum_adds_in_a_fixed_pairwise_order(trainer: ModuleType) -> None:
    values = np.array([[1e16], [1.0], [-1e16], [1.0], [3.0]])
    # ((1e16 + 1) + (-1e16 + 1)) + (3 + 0): the 1s are lost in the first level, exactly
    assert trainer.tree_sum(values)[0] == 3.0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1001, 3))
    np.testing.assert_allclose(trainer.tree_sum(x), x.sum(axis=0), rtol=1e-12)


def test_random_selection_is_what_the_shipped_script_picks(verifier: ModuleType, pool: Any) -> None:
    shipped = load(TASK / "environment" / "selection.py", "_data_selection_shipped")
    picked = shipped.select(pool.features, pool.labels, pool.categories, verifier.SELECT)
    yardstick = verifier.random_selection(pool.labels, pool.categories)
    assert np.array_equal(np.asarray(picked), yardstick)
    # stratified: every (category, label) cell gets its share of k, to within one sample
    cells = pool.categories.astype(np.int64) * verifier.N_CLASSES + pool.labels
    share = np.bincount(cells, minlength=36) * verifier.SELECT / verifier.POOL_SIZE
    assert np.all(np.abs(np.bincount(cells[yardstick], minlength=36) - share) < 1)


def test_fault_amounts_are_the_same_on_every_seed(verifier: ModuleType, pool: Any) -> None:
    """Only which category or class gets which amount is seeded: the amounts themselves are exact."""
    v = verifier
    other = v.make_pool(4)

    def amounts(p: Any) -> list[tuple[int, int, int]]:
        rows = []
        for c in range(v.N_CATEGORIES):
            clean = (p.kind == v.KIND_CLEAN) & (p.categories == c)
            off = (p.kind == v.KIND_OFF_DOMAIN) & (p.categories == c)
            rows.append((int(clean.sum()), int((p.labels[clean] != p.clean[clean]).sum()), int(off.sum())))
        return sorted(rows)

    assert amounts(pool) == amounts(other)
    assert not np.array_equal(pool.categories, other.categories)


def npy(array: object) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        (list(range(2999)), "exactly k = 3000"),
        ([0, *list(range(2999))], "repeated"),
        ([*list(range(2999)), 30000], "out of range"),
        ([*list(range(2999)), -1], "out of range"),
        (np.arange(3000, dtype=np.float64), "flat list of ints"),
        (np.arange(3000).reshape(1, 3000), "flat list of ints"),
    ],
)
def test_parse_indices_rejects_what_is_not_k_distinct_indices(
    verifier: ModuleType, indices: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        verifier.parse_indices(npy(indices))


def test_parse_indices_accepts_any_order(verifier: ModuleType) -> None:
    indices = np.random.default_rng(1).permutation(30_000)[:3000]
    assert np.array_equal(verifier.parse_indices(npy(indices)), np.sort(indices))
    with pytest.raises(ValueError, match="readable"):
        verifier.parse_indices(b"not an npy file")
