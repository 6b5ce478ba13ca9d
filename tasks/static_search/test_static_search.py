"""Verifier of the static_search task.

The submission's search.cpp is built with the task's own Makefile and harness (main.c), checked
for the rules that can be checked on the objects, and run on key sets and query chains drawn from
``submission.seed``; every answer is compared with numpy's ``searchsorted`` (side="left"),
computed here in the pytest process. The benchmark is then run once under Callgrind with the
cache simulation on the fixed model machine (``pytest_autolab.native.MODEL_CACHE``); its answers
are checked too and its simulated cycles (the whole process, harness included) are the metric.

Every input is drawn from the seed through independent streams (``default_rng([seed, tag])``), and
the benchmark input is never run outside Callgrind. Each query is chosen by the parity of the
previous answer, so the queries cannot be answered in a batch, sorted, or looked at before the
answers they depend on are given.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_autolab import Submission, native

#: The benchmark: 500,000 keys (4 MB, four times the model's last-level cache) and a million
#: queries. The baseline spends about 1.4e9 simulated cycles (3.6e8 instructions) on it.
BENCH_N, BENCH_M = 500_000, 1_000_000
MAX_N = 1 << 24
U64_MAX = (1 << 64) - 1
#: A floor far below any correct program: 30 simulated cycles a query, where a query that reads
#: one key from memory already costs over 100 (a last-level miss). A count under it means work
#: done where Callgrind does not look.
FLOOR = 30 * BENCH_M

#: What g++ emits for std::map and std::set beyond the common C++ runtime (the red-black tree's
#: out-of-line helpers in libstdc++).
RB_TREE_CALLS = frozenset(
    [
        "_ZSt18_Rb_tree_incrementPSt18_Rb_tree_node_base",
        "_ZSt18_Rb_tree_incrementPKSt18_Rb_tree_node_base",
        "_ZSt18_Rb_tree_decrementPSt18_Rb_tree_node_base",
        "_ZSt18_Rb_tree_decrementPKSt18_Rb_tree_node_base",
        "_ZSt29_Rb_tree_insert_and_rebalancebPSt18_Rb_tree_node_baseS0_RS_",
        "_ZSt28_Rb_tree_rebalance_for_erasePSt18_Rb_tree_node_baseRS_",
        "_ZNKSt8__detail20_Prime_rehash_policy11_M_next_bktEm",
        "_ZNKSt8__detail20_Prime_rehash_policy14_M_need_rehashEmmm",
    ]
)
RULES = native.Rules(
    objects=("search.o",),
    exports=("search_build", "search_lower_bound"),
    allowed_calls=native.MEMORY_CALLS | native.CXX_RUNTIME_CALLS | RB_TREE_CALLS,
    harness_objects=("main.o",),
    template_instances=True,
)


# --- inputs and the expected answers -----------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def random_u64(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(0, 1 << 64, size=size, dtype=np.uint64)


def mixed_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    """The benchmark's keys: uniform over all 64-bit values, in runs: mostly single keys, some
    short (2 to 4) and a few long (5 to 32) runs of equal keys, of which some are dense clusters
    (gaps of 1 to 3) instead."""
    runs = max(1, n)
    kind = rng.integers(0, 100, size=runs)
    length = np.where(
        kind < 82, 1, np.where(kind < 97, rng.integers(2, 5, size=runs), rng.integers(5, 33, size=runs))
    )
    start = random_u64(rng, runs)
    owner = np.repeat(np.arange(runs), length)[:n]
    offset = np.arange(owner.size) - np.repeat(np.cumsum(length) - length, length)[:n]
    dense = (rng.integers(0, 100, size=runs) < 3)[owner]
    step = rng.integers(1, 4, size=owner.size).astype(np.uint64)
    with np.errstate(over="ignore"):  # a cluster may wrap around 2^64: it is sorted all the same
        keys = start[owner] + np.where(dense, offset.astype(np.uint64) * step, np.uint64(0))
    return np.sort(keys)


def styled_keys(rng: np.random.Generator, n: int, style: str) -> np.ndarray:
    """Key sets with a shape that breaks careless searches."""
    if style == "mixed":
        return mixed_keys(rng, n)
    if style == "all_equal":
        return np.full(n, random_u64(rng, 1)[0], dtype=np.uint64)
    if style == "few_distinct":
        return np.sort(rng.choice(random_u64(rng, 5), size=n))
    if style == "dense":  # consecutive integers: every query between keys is adjacent to one
        return np.arange(n, dtype=np.uint64) + np.uint64(rng.integers(0, 1 << 62))
    if style == "extremes":  # 0, the sign bit's neighbours and UINT64_MAX, with duplicates
        special = np.array(
            [0, 1, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, U64_MAX - 1, U64_MAX], dtype=np.uint64
        )
        return np.sort(np.concatenate([rng.choice(special, size=n - n // 2), random_u64(rng, n // 2)]))
    raise ValueError(style)


def candidate_pairs(rng: np.random.Generator, keys: np.ndarray, m: int) -> np.ndarray:
    """m pairs of candidate queries: equal to keys (the first of duplicates included), one above
    or below a key, uniform, below the smallest and above the largest key, 0 and UINT64_MAX."""
    count = 2 * m
    uniform = random_u64(rng, count)
    if keys.size == 0:
        extremes = np.where(rng.integers(0, 2, size=count) == 1, np.uint64(0), np.uint64(U64_MAX))
        return np.where(rng.integers(0, 10, size=count) == 0, extremes, uniform).reshape(m, 2)
    picked = keys[rng.integers(0, keys.size, size=count)]
    kind = rng.integers(0, 100, size=count)
    lo, hi = int(keys[0]), int(keys[-1])
    below_min = (
        rng.integers(0, lo + 1, size=count, dtype=np.uint64, endpoint=False)
        if lo > 0
        else np.zeros(count, np.uint64)
    )
    above_max = (
        np.uint64(hi + 1) + rng.integers(0, U64_MAX - hi, size=count, dtype=np.uint64, endpoint=True)
        if hi < U64_MAX
        else np.full(count, U64_MAX, np.uint64)
    )
    with np.errstate(over="ignore"):
        beside = np.where(kind % 2 == 1, picked + np.uint64(1), picked - np.uint64(1))  # wraps at the ends
    queries = np.select(
        [kind < 40, kind < 60, kind < 85, kind < 92, kind < 98, kind % 2 == 1],
        [picked, beside, uniform, below_min, above_max, np.zeros(count, np.uint64)],
        default=np.uint64(U64_MAX),
    )
    return queries.astype(np.uint64).reshape(m, 2)


def encode(keys: np.ndarray, pairs: np.ndarray) -> bytes:
    assert keys.size <= MAX_N
    assert bool(np.all(keys[:-1] <= keys[1:]))
    header = np.array([keys.size, pairs.shape[0]], dtype="<u8").tobytes()
    return header + keys.astype("<u8").tobytes() + pairs.astype("<u8").tobytes()


def expected_answers(keys: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The answers to the chain and the query each one answers (query i is pair i's first
    candidate when answer i - 1 is even, else its second)."""
    both = np.searchsorted(keys, pairs.ravel(), side="left").reshape(pairs.shape)
    first, second = both[:, 0].tolist(), both[:, 1].tolist()
    answers, chosen, prev = [], [], 0
    for a, b in zip(first, second, strict=False):
        side = prev & 1
        prev = b if side else a
        answers.append(prev)
        chosen.append(side)
    queries = pairs[np.arange(pairs.shape[0]), np.array(chosen, dtype=np.intp)]
    return np.array(answers, dtype=np.uint32), queries


def assert_answers(raw: bytes, keys: np.ndarray, pairs: np.ndarray, what: str) -> None:
    m = pairs.shape[0]
    assert len(raw) == 4 * m, (
        f"{what}: the output has {len(raw)} bytes, expected {4 * m} (one uint32 per query)"
    )
    got = np.frombuffer(raw, dtype="<u4")
    want, queries = expected_answers(keys, pairs)
    wrong = np.flatnonzero(got != want)
    if wrong.size:
        i = int(wrong[0])
        q, a, w = int(queries[i]), int(got[i]), int(want[i])
        around = ", ".join(f"keys[{j}] = {int(keys[j])}" for j in range(max(0, w - 1), min(keys.size, w + 2)))
        pytest.fail(
            f"{what}: query {i} (q = {q}) was answered {a}, expected {w} "
            f"(n = {keys.size}; {around or 'no keys'}). Later queries depend on this answer.",
            pytrace=False,
        )


def run_case(program: native.Program, name: str, keys: np.ndarray, pairs: np.ndarray) -> None:
    """Run ./search natively on one input and compare every answer."""
    what = f"{name} (n={keys.size}, m={pairs.shape[0]})"
    program.submission.write_file(f"{name}.bin", encode(keys, pairs))
    result = program.run(f"run {name}.bin {name}.out", timeout=120)
    assert result.ok, f"{what}: ./search failed: {result.describe()}\n{result.output[-2000:]}"
    assert_answers(program.submission.read_file(f"{name}.out"), keys, pairs, what)
    if keys.size > 100_000:
        program.submission.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission: Submission) -> native.Program:
    """`make search` in a pristine copy of environment/ with the submitted search.cpp."""
    return native.build(submission, "make search", binary="search", rules=RULES)


@pytest.fixture
def built(program: native.Program) -> native.Program:
    program.assert_built()
    return program


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(built: native.Program) -> None:
    """search.o defines only search_build() and search_lower_bound() (plus template instances),
    calls only allocation, memory functions and the C++ runtime, and runs no code before main."""
    built.assert_rules()


def test_small_sizes(built: native.Program) -> None:
    """Tiny n and the edges of 8-key blocks and 9-way nodes, each with a random style."""
    rng = rng_for(built.submission.seed, 1)
    sizes = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 72, 73, 81]
    styles = ("mixed", "all_equal", "few_distinct", "dense", "extremes")
    for n in sizes:
        style = styles[int(rng.integers(0, len(styles)))] if n else "mixed"
        keys = styled_keys(rng, n, style)
        run_case(built, f"small_{n}_{style}", keys, candidate_pairs(rng, keys, 400))


def test_level_edges(built: native.Program) -> None:
    """n just around 8 * 9^k, where a tree of 8-key blocks and 9-way nodes gains a level, and
    around powers of two."""
    rng = rng_for(built.submission.seed, 2)
    for base in (648, 5832, 4096, 52488, 65536, 472392):
        n = base + int(rng.choice([-9, -8, -1, 1, 8, 9]))
        keys = styled_keys(rng, n, "mixed")
        run_case(built, f"edge_{n}", keys, candidate_pairs(rng, keys, 20_000))


@pytest.mark.parametrize("style", ["all_equal", "few_distinct", "dense", "extremes"])
def test_key_styles(built: native.Program, style: str) -> None:
    """Equal keys (the answer is the first of them), five distinct values, consecutive integers,
    and keys at 0, around 2^63 and at UINT64_MAX (a signed comparison goes wrong there)."""
    rng = rng_for(built.submission.seed, 3, len(style))
    n = int(rng.integers(1_000, 150_000))
    keys = styled_keys(rng, n, style)
    run_case(built, f"style_{style}", keys, candidate_pairs(rng, keys, 50_000))


def test_large(built: native.Program) -> None:
    """A few million keys: deeper than the benchmark's index."""
    rng = rng_for(built.submission.seed, 4)
    keys = mixed_keys(rng, int(rng.integers(2_500_000, 3_500_000)))
    run_case(built, "large", keys, candidate_pairs(rng, keys, 200_000))


def test_simulated_cycles(built: native.Program, record_metric) -> None:
    """The metric: Callgrind's simulated cycles (Ir + 10 * L1 misses + 100 * last-level misses on
    the model cache) for one run of the benchmark drawn from the seed, whose answers must be
    correct as well."""
    rng = rng_for(built.submission.seed, 5)
    keys = mixed_keys(rng, BENCH_N)
    pairs = candidate_pairs(rng, keys, BENCH_M)
    built.submission.write_file("bench.bin", encode(keys, pairs))
    counts = built.count("run bench.bin bench.out", cache_sim=True, timeout=600)
    assert_answers(built.submission.read_file("bench.out"), keys, pairs, "benchmark")
    assert counts.cycles is not None
    assert counts.cycles >= FLOOR, (
        f"{counts.cycles} simulated cycles is implausibly few for {BENCH_M} queries (floor {FLOOR}): "
        "was work done outside the measured process?"
    )
    record_metric(counts.cycles, details=counts.details())
