"""Verifier of the data_selection task.

The pool is drawn here, in the pytest process, from ``submission.seed`` by a generative
teacher: six categories, each with six classes whose inputs are Gaussian clusters in the
category's own six features, and the faults that make selection matter (label noise at a
rate that differs by category, asymmetric flips of one class into another, near-duplicate
clusters that favour wrong labels, off-domain clusters with random labels, skewed class and
category frequencies). Only what an agent would see of real data goes into the sandbox:
the int8 features, the observed labels and the categories. The true labels, the kinds of
fault and the test split never leave this process.

The submission's ``selection.select`` runs in the sandbox through the read-only driver
``run_select.py`` (CPU-time limit) and returns indices. Here they are validated (exactly
K distinct integers in range), and the read-only trainer (``environment/trainer.py``, the
pristine copy of this task folder) trains on them and on the seeded random selection the
task ships with. The metric is the ratio of the two test errors on a clean test split that
is balanced across categories and classes: 1.0 for the random selection, lower is better.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pytest_autolab import Submission, pristine_module

N_CATEGORIES = 6
N_CLASSES = 6
#: Features per category; category c lives in features [6c, 6c + 6).
BLOCK = 6
DIM = N_CATEGORIES * BLOCK
POOL_SIZE = 30_000
#: Samples to pick (run_select.K).
SELECT = 3_000
#: Test samples per (category, class) cell: the test split is balanced and clean.
TEST_PER_CELL = 2_000
#: Features are stored as int8: value * SCALE, rounded (trainer.SCALE).
SCALE = 8.0

# --- the teacher and its faults ------------------------------------------------------------------
# Every seed gets the same profiles; which category and class gets which entry is seeded, so the
# difficulty is the same for every seed while nothing about a particular seed can be hard-coded.

#: Share of the in-domain pool per category (category rank r gets entry r).
CATEGORY_SHARES = np.array([0.36, 0.25, 0.16, 0.11, 0.075, 0.045])
#: Class priors within a category: DECAY ** (class rank), a 12:1 ratio end to end.
CLASS_DECAY = 0.6
#: Rate of uniformly wrong labels, by category rank.
SYMMETRIC_NOISE = np.array([0.12, 0.32, 0.04, 0.25, 0.08, 0.18])
#: Category ranks with an asymmetric flip: this share of the class of rank 1 is labelled as
#: the class of rank 3.
ASYMMETRIC_RANKS = (0, 2, 4)
ASYMMETRIC_FLIP = 0.4
#: Near-duplicates: this share of the pool is copies (jittered, as many of each) of
#: DUPLICATE_BASES samples, half of them with a wrong label.
DUPLICATE_SHARE = 0.15
DUPLICATE_BASES = 150
DUPLICATE_JITTER = 0.06
DUPLICATE_WRONG_BASES = 0.5
#: Off-domain: this share of the pool (in proportion to the categories' shares) comes from
#: OFF_DOMAIN_CLUSTERS clusters per category at OFF_DOMAIN_RADIUS from the category's centre,
#: with labels at random (as many of each label in every cluster).
OFF_DOMAIN_SHARE = 0.12
OFF_DOMAIN_CLUSTERS = 3
OFF_DOMAIN_RADIUS = 6.0
OFF_DOMAIN_SPREAD = 1.5
#: Class means: a regular simplex of this radius, rotated at random per category and shifted
#: by an offset of norm OFFSET; the in-domain noise is standard normal.
SEPARATION = 2.2
OFFSET = 2.0

#: What each pool sample is, for the statistics (never sent to the sandbox).
KIND_CLEAN, KIND_DUPLICATE, KIND_OFF_DOMAIN = 0, 1, 2

#: Wall-clock limit of the selection run, a backstop far above the CPU-time limit
#: (run_select.CPU_LIMIT_S, 30 s, enforced in the sandbox by the kernel), so that a loaded
#: machine does not fail an honest selection.
WALL_LIMIT_S = 300.0

TASK_DIR = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Pool:
    """The candidate pool and what only the verifier knows about it."""

    #: (POOL_SIZE, DIM) int8, as sent.
    features: np.ndarray
    #: Observed labels, as sent (some wrong).
    labels: np.ndarray
    #: Category of each sample, as sent.
    categories: np.ndarray
    #: The teacher's class; -1 for off-domain samples. Never sent.
    clean: np.ndarray
    #: KIND_CLEAN, KIND_DUPLICATE or KIND_OFF_DOMAIN. Never sent.
    kind: np.ndarray

    def to_npz(self) -> bytes:
        """The file the sandbox receives: features, labels and categories only."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            features=self.features,
            labels=self.labels.astype(np.int8),
            categories=self.categories.astype(np.int8),
        )
        return buffer.getvalue()


def _simplex(rng: np.random.Generator) -> np.ndarray:
    """N_CLASSES unit vectors in BLOCK dimensions, pairwise equidistant, randomly rotated."""
    centred = np.eye(N_CLASSES) - 1.0 / N_CLASSES
    basis, _ = np.linalg.qr(centred.T)
    points = centred @ basis[:, : N_CLASSES - 1]
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    points = np.concatenate([points, np.zeros((N_CLASSES, BLOCK - N_CLASSES + 1))], axis=1)
    rotation, _ = np.linalg.qr(rng.standard_normal((BLOCK, BLOCK)))
    return points @ rotation.T


def class_means(seed: int) -> np.ndarray:
    """(category, class, BLOCK): the teacher's class means."""
    rng = np.random.default_rng([seed, 1])
    means = np.stack([SEPARATION * _simplex(rng) for _ in range(N_CATEGORIES)])
    offsets = rng.standard_normal((N_CATEGORIES, BLOCK))
    offsets *= OFFSET / np.linalg.norm(offsets, axis=1, keepdims=True)
    return means + offsets[:, None, :]


def quantize(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * SCALE), -127, 127).astype(np.int8)


def _in_domain(
    rng: np.random.Generator, means: np.ndarray, categories: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    x = np.zeros((len(categories), DIM))
    for c in range(N_CATEGORIES):
        rows = categories == c
        x[rows, c * BLOCK : (c + 1) * BLOCK] = means[c, classes[rows]] + rng.standard_normal(
            (int(rows.sum()), BLOCK)
        )
    return x


def _counts(shares: np.ndarray, n: int) -> np.ndarray:
    """n split in proportion to shares, rounded so that the parts add up to n (largest remainder)."""
    exact = np.asarray(shares, dtype=np.float64) / np.sum(shares) * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: n - int(counts.sum())]] += 1
    return counts


def _exactly(rng: np.random.Generator, rows: np.ndarray, share: float) -> np.ndarray:
    """A random subset of ``rows`` of exactly round(share * len(rows)) of them."""
    return rng.permutation(rows)[: round(share * len(rows))]


def make_pool(seed: int) -> Pool:
    """The candidate pool of a seed (deterministic).

    Every amount is exact, not drawn: the samples per category and per class, the wrong labels
    and the flips per category, the off-domain samples per category (in proportion to the
    category's share). Only which category and class gets which amount, the geometry and which
    samples are hit are seeded, so every seed's pool is as hard as any other's.
    """
    means = class_means(seed)
    rng = np.random.default_rng([seed, 2])
    n_off = round(POOL_SIZE * OFF_DOMAIN_SHARE)
    n_dup = round(POOL_SIZE * DUPLICATE_SHARE)
    n_base = POOL_SIZE - n_off - n_dup
    rank = rng.permutation(N_CATEGORIES)  # category c takes entry rank[c] of every profile
    class_rank = np.stack([rng.permutation(N_CLASSES) for _ in range(N_CATEGORIES)])
    priors = CLASS_DECAY**class_rank
    category_counts = _counts(CATEGORY_SHARES[rank], n_base)
    categories = np.repeat(np.arange(N_CATEGORIES), category_counts)
    classes = np.concatenate(
        [np.repeat(np.arange(N_CLASSES), _counts(priors[c], int(category_counts[c]))) for c in range(N_CATEGORIES)]
    )
    x = _in_domain(rng, means, categories, classes)
    labels = classes.copy()
    for c in range(N_CATEGORIES):
        wrong = _exactly(rng, np.flatnonzero(categories == c), SYMMETRIC_NOISE[rank[c]])
        labels[wrong] = (classes[wrong] + rng.integers(1, N_CLASSES, len(wrong))) % N_CLASSES
    for r in ASYMMETRIC_RANKS:
        c = int(np.flatnonzero(rank == r)[0])
        source, target = (int(np.flatnonzero(class_rank[c] == k)[0]) for k in (1, 3))
        members = (categories == c) & (classes == source)
        # exactly that share of the class, taken among its samples the symmetric noise left right
        flipped = rng.permutation(np.flatnonzero(members & (labels == classes)))
        labels[flipped[: round(ASYMMETRIC_FLIP * int(members.sum()))]] = target
    wrong = np.flatnonzero(labels != classes)
    right = np.flatnonzero(labels == classes)
    n_wrong = round(DUPLICATE_BASES * DUPLICATE_WRONG_BASES)
    bases = np.concatenate(
        [rng.choice(wrong, n_wrong, replace=False), rng.choice(right, DUPLICATE_BASES - n_wrong, replace=False)]
    )
    copies = np.repeat(bases, _counts(np.ones(DUPLICATE_BASES), n_dup))
    x_dup = x[copies] + rng.standard_normal((n_dup, DIM)) * DUPLICATE_JITTER * (x[copies] != 0)
    off_categories = np.repeat(np.arange(N_CATEGORIES), _counts(CATEGORY_SHARES[rank], n_off))
    centres = rng.standard_normal((N_CATEGORIES, OFF_DOMAIN_CLUSTERS, BLOCK))
    centres *= OFF_DOMAIN_RADIUS / np.linalg.norm(centres, axis=2, keepdims=True)
    centres += means.mean(axis=1)[:, None, :]  # around the category's centre
    # as many samples in every cluster, as many of every label in every cluster
    cluster = np.concatenate([np.arange(n) % OFF_DOMAIN_CLUSTERS for n in np.bincount(off_categories)])
    off_labels = np.zeros(n_off, dtype=np.int64)
    for key in np.unique(off_categories * OFF_DOMAIN_CLUSTERS + cluster):
        rows = np.flatnonzero(off_categories * OFF_DOMAIN_CLUSTERS + cluster == key)
        off_labels[rows] = rng.permutation(np.arange(len(rows)) % N_CLASSES)
    x_off = np.zeros((n_off, DIM))
    for c in range(N_CATEGORIES):
        rows = off_categories == c
        x_off[rows, c * BLOCK : (c + 1) * BLOCK] = centres[
            c, cluster[rows]
        ] + OFF_DOMAIN_SPREAD * rng.standard_normal((int(rows.sum()), BLOCK))
    order = rng.permutation(POOL_SIZE)  # the index says nothing about the kind of sample
    return Pool(
        features=quantize(np.concatenate([x, x_dup, x_off]))[order],
        labels=np.concatenate([labels, labels[copies], off_labels])[order],
        categories=np.concatenate([categories, categories[copies], off_categories])[order],
        clean=np.concatenate([classes, classes[copies], np.full(n_off, -1)])[order],
        kind=np.repeat([KIND_CLEAN, KIND_DUPLICATE, KIND_OFF_DOMAIN], [n_base, n_dup, n_off])[order],
    )


def make_test(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden test split: (features int8, true classes, categories), clean and balanced."""
    means = class_means(seed)
    rng = np.random.default_rng([seed, 3])
    categories = np.repeat(np.arange(N_CATEGORIES), N_CLASSES * TEST_PER_CELL)
    classes = np.tile(np.repeat(np.arange(N_CLASSES), TEST_PER_CELL), N_CATEGORIES)
    return quantize(_in_domain(rng, means, categories, classes)), classes, categories


def random_selection(labels: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """What the shipped selection.py picks, the yardstick of the metric: from every (category,
    observed label) cell its share of SELECT (largest remainder), at random within the cell.
    Stratified, so the yardstick does not move with how many samples of a rare cell one random
    draw happens to catch (its test error varies about half as much as a plain draw's)."""
    rng = np.random.default_rng(0)
    cell = categories.astype(np.int64) * N_CLASSES + labels
    counts = np.bincount(cell, minlength=N_CATEGORIES * N_CLASSES)
    take = _counts(counts, SELECT)
    chosen = [rng.permutation(np.flatnonzero(cell == c))[: take[c]] for c in range(len(counts))]
    return np.concatenate(chosen)


def load_trainer() -> ModuleType:
    """The read-only trainer, from this task folder's pristine environment/."""
    return pristine_module(__file__, "trainer.py")


def parse_indices(raw: bytes) -> np.ndarray:
    """The driver's .npy output as K distinct indices in range; ValueError says what is wrong."""
    try:
        indices = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"the selection is not a readable .npy array: {exc}") from None
    if indices.dtype.kind not in "iu" or indices.ndim != 1:
        raise ValueError(
            f"select() must return a flat list of ints, got shape {indices.shape}, dtype {indices.dtype}"
        )
    if indices.size != SELECT:
        raise ValueError(f"select() returned {indices.size} indices: exactly k = {SELECT} are required")
    bad = (indices < 0) | (indices >= POOL_SIZE)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} indices are out of range (e.g. {int(indices[bad][0])}): need 0 <= i < {POOL_SIZE}"
        )
    unique = np.unique(indices)
    if unique.size != SELECT:
        raise ValueError(
            f"select() returned {SELECT - unique.size} repeated indices: the {SELECT} indices must be distinct"
        )
    return unique.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A model trained on one selection, scored on the test split."""

    accuracy: float
    by_category: list[float]

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


def train_and_test(
    pool: Pool, indices: np.ndarray, test: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> Outcome:
    trainer = load_trainer()
    idx = np.sort(indices)
    model = trainer.train(pool.features[idx], pool.labels[idx], N_CLASSES)
    features, classes, categories = test
    right = trainer.predict(model, features) == classes
    return Outcome(
        accuracy=float(right.mean()),
        by_category=[float(right[categories == c].mean()) for c in range(N_CATEGORIES)],
    )


def describe_selection(pool: Pool, idx: np.ndarray) -> str:
    """What went into a selection, by kind of sample (the verifier's eyes only)."""
    kinds = np.bincount(pool.kind[idx], minlength=3)
    wrong = int(np.count_nonzero((pool.labels[idx] != pool.clean[idx]) & (pool.kind[idx] != KIND_OFF_DOMAIN)))
    return f"{kinds[0]} in-domain, {kinds[1]} near-duplicates, {kinds[2]} off-domain; {wrong} in-domain with a wrong label"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(submission: Submission) -> Pool:
    return make_pool(submission.seed)


@pytest.fixture(scope="module")
def selection_run(submission: Submission, pool: Pool):
    submission.write_file("pool.npz", pool.to_npz())
    # A fresh name: nothing the submission could have left behind is read as its output.
    submission.exec("rm -f chosen.npy", timeout=30)
    return submission.exec("python3 run_select.py pool.npz chosen.npy", timeout=WALL_LIMIT_S)


@pytest.fixture(scope="module")
def chosen(submission: Submission, selection_run) -> np.ndarray:
    if not selection_run.ok:
        pytest.fail("select() did not run to completion (see test_selection_runs)", pytrace=False)
    try:
        return parse_indices(submission.read_file("chosen.npy"))
    except ValueError as exc:
        problem = str(exc)
    except Exception as exc:  # the driver wrote nothing, or something else than a file
        problem = f"no selection to read: {exc}"
    pytest.fail(problem, pytrace=False)


# --- tests (the metric test comes last) ----------------------------------------------------------


def test_selection_runs(selection_run) -> None:
    """selection.select returns within the CPU-time limit (30 s) and the wall-clock limit (300 s)."""
    if selection_run.exit_code == 128 + 24:  # SIGXCPU (the local backend also calls it a timeout)
        pytest.fail("select() ran past the CPU-time limit of 30 s and was stopped", pytrace=False)
    if selection_run.timed_out:
        pytest.fail(f"select() ran past the wall-clock limit of {WALL_LIMIT_S:.0f} s", pytrace=False)
    if selection_run.exit_code == 128 + 9:
        pytest.fail("select() was killed (SIGKILL: the CPU-time limit of 30 s, or memory)", pytrace=False)
    assert selection_run.ok, (
        f"run_select.py failed ({selection_run.describe()}):\n{selection_run.output[-3000:]}"
    )


def test_selection_is_k_distinct_indices(chosen: np.ndarray) -> None:
    assert chosen.size == SELECT


def test_relative_test_error(
    submission: Submission, pool: Pool, chosen: np.ndarray, record_metric, record_property
) -> None:
    """The metric: test error of the model trained on the selection / that of the random selection."""
    test = make_test(submission.seed)
    mine = train_and_test(pool, chosen, test)
    random = train_and_test(pool, random_selection(pool.labels, pool.categories), test)
    ratio = mine.error / random.error
    report = {
        "accuracy": round(mine.accuracy, 4),
        "random_selection_accuracy": round(random.accuracy, 4),
        "accuracy_by_category": [round(a, 4) for a in mine.by_category],
        "relative_error": round(ratio, 4),
    }
    record_property("data_selection", report)
    print(f"data_selection: {report}; selection: {describe_selection(pool, chosen)}")
    record_metric(ratio, details=report)  # evaluate() shows it: the loop can diagnose by category
