"""Verifier of the radix_sort task.

The submission's sort.c is built with the task's own Makefile and main.c, checked for the rules
that can be checked on the object file, and run on key arrays drawn from ``submission.seed``;
every output is compared, key for key, with numpy's sort of the same input. The benchmark array
(2^19 keys) is then sorted once under Callgrind with the cache simulation on the fixed model
machine (``native.MODEL_CACHE``); its output is checked too, and the estimated cycle count (the whole process, harness
included) is the metric.

Every input is drawn from the seed through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it
is measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_autolab import native

#: The benchmark: 2^19 keys (4 MiB, four times the simulated last-level cache).
BENCH_N = 1 << 19
MAX_N = 1 << 24

#: A floor far below any correct program: two instructions per key. A count under it means work
#: done where Callgrind does not look.
FLOOR = 2 * BENCH_N

#: What sort.c may define and call: only sort_keys(), memory allocation, the mem* functions and
#: qsort (the baseline's). Everything else (I/O, processes, threads, time, ...) has no place in a
#: single-threaded sort.
RULES = native.Rules(
    objects=("sort.o",),
    exports=("sort_keys",),
    allowed_calls=native.MEMORY_CALLS | {"qsort"},
    harness_objects=("main.o",),
)


# --- inputs ------------------------------------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def uniform_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 1 << 64, size=n, dtype=np.uint64)


#: The families of the benchmark's blocks and their shares of the blocks.
FAMILIES = ("uniform", "few_distinct", "zipf", "run", "narrow")
FAMILY_SHARES = (0.30, 0.20, 0.20, 0.15, 0.15)


def family_block(rng: np.random.Generator, family: str, n: int, pools: dict[str, np.ndarray]) -> np.ndarray:
    """n keys of one family. ``pools`` holds the values that few_distinct and zipf choose from."""
    if family == "uniform":
        return uniform_keys(rng, n)
    if family == "few_distinct":
        few = pools["few_distinct"]
        return few[rng.integers(0, few.size, size=n)]
    if family == "zipf":
        common = pools["zipf"]
        ranks = np.minimum(rng.zipf(1.1, size=n), common.size) - 1
        return common[ranks]
    if family == "run":  # ascending or descending, steps of up to 2^k, from a random start
        steps = rng.integers(0, 1 << int(rng.integers(0, 12)), size=n, dtype=np.uint64)
        start = uniform_keys(rng, 1)[0] >> np.uint64(rng.integers(0, 40))
        run = start + np.cumsum(steps, dtype=np.uint64)
        return run if rng.random() < 0.5 else run[::-1].copy()
    if family == "narrow":  # 32-bit keys: the four high bytes are zero
        return rng.integers(0, 1 << 32, size=n, dtype=np.uint64)
    raise ValueError(family)


def value_pools(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "few_distinct": uniform_keys(rng, int(rng.integers(8, 64))),
        "zipf": uniform_keys(rng, 20000),
    }


def mixed_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    """The benchmark's distribution: each family holds its share of the n keys exactly, cut into
    blocks of 256 to 4095 keys; the blocks of all families are then put in a random order. (Many
    small blocks keep the benchmark's cost from moving much from seed to seed.)"""
    pools = value_pools(rng)
    blocks = []
    quotas = [int(n * share) for share in FAMILY_SHARES]
    quotas[0] += n - sum(quotas)
    for family, quota in zip(FAMILIES, quotas, strict=True):
        while quota > 0:
            size = min(quota, int(rng.integers(256, 4096)))
            blocks.append(family_block(rng, family, size, pools))
            quota -= size
    order = rng.permutation(len(blocks))
    return np.concatenate([blocks[i] for i in order]) if blocks else np.zeros(0, dtype=np.uint64)


def encode(keys: np.ndarray) -> bytes:
    assert keys.dtype == np.uint64
    assert keys.size <= MAX_N
    return np.array([keys.size], dtype="<u8").tobytes() + keys.astype("<u8").tobytes()


def assert_sorted_copy(out: np.ndarray, keys: np.ndarray, what: str) -> None:
    """out must be exactly the keys in ascending order (the same multiset, sorted)."""
    expected = np.sort(keys, kind="stable")
    assert out.size == expected.size, f"{what}: {out.size} keys came back, expected {expected.size}"
    wrong = np.flatnonzero(out != expected)
    if wrong.size == 0:
        return
    i = int(wrong[0])
    descents = int(np.count_nonzero(out[1:] < out[:-1]))
    if descents:
        j = int(np.flatnonzero(out[1:] < out[:-1])[0])
        order = (
            f"not sorted: out[{j}] = {int(out[j])} > out[{j + 1}] = {int(out[j + 1])} ({descents} descents)"
        )
    else:
        order = "sorted, but not the same keys as the input (keys lost, duplicated or changed)"
    pytest.fail(
        f"{what}: out[{i}] = {int(out[i])}, expected {int(expected[i])}; {wrong.size} of {out.size} "
        f"positions differ; {order}"
    )


def run_case(program: native.Program, name: str, keys: np.ndarray) -> None:
    """Sort one array with ./rsort natively and compare the result with numpy's sort."""
    what = f"{name} (n={keys.size})"
    sub = program.submission
    sub.write_file(f"{name}.bin", encode(keys))
    result = program.run(f"run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./rsort failed: {result.describe()}\n{result.output[-2000:]}"
    raw = sub.read_file(f"{name}.out")
    assert len(raw) == keys.size * 8, f"{what}: the output has {len(raw)} bytes, expected {keys.size * 8}"
    assert_sorted_copy(np.frombuffer(raw, dtype="<u8"), keys, what)
    sub.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission) -> native.Program:
    """`make rsort` in a pristine copy of environment/ with the submitted sort.c, built once;
    every run is of that binary (hash-checked) from a fresh private directory."""
    return native.build(submission, "make rsort", binary="rsort", rules=RULES, timeout=300)


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(program: native.Program) -> None:
    """sort.o defines only sort_keys(), calls only allocation/memory functions (and qsort), runs
    no code before main(), holds no system call or Valgrind client request; the program has no
    writable code."""
    program.assert_rules()


def test_tiny_arrays(program: native.Program) -> None:
    """n = 0, 1, 2, 3 and every n up to 40, with few distinct values (insertion-sort and
    small-bucket edges)."""
    rng = rng_for(program.submission.seed, 1)
    run_case(program, "empty", np.zeros(0, dtype=np.uint64))
    parts = [uniform_keys(rng, n) for n in (1, 2, 3)]
    parts += [rng.integers(0, 4, size=n, dtype=np.uint64) for n in range(4, 41)]
    for i, keys in enumerate(parts):
        run_case(program, f"tiny_{i}", keys)


def test_extreme_values(program: native.Program) -> None:
    """0 and 2^64 - 1, keys that differ only in the top bit or only in the lowest byte, and
    keys whose signed order differs from their unsigned order."""
    rng = rng_for(program.submission.seed, 2)
    n = int(rng.integers(1000, 5000))
    top = np.uint64(1 << 63)
    cases = {
        "extremes": rng.choice(np.array([0, (1 << 64) - 1, 1, (1 << 64) - 2], dtype=np.uint64), size=n),
        "top_bit": uniform_keys(rng, 1)[0] & ~top
        | rng.choice(np.array([0, 1 << 63], dtype=np.uint64), size=n),
        "low_byte": (uniform_keys(rng, 1)[0] & ~np.uint64(0xFF))
        | rng.integers(0, 256, size=n, dtype=np.uint64),
        "signed_order": uniform_keys(rng, n) ^ (rng.integers(0, 2, size=n, dtype=np.uint64) * top),
    }
    for name, keys in cases.items():
        run_case(program, name, keys.astype(np.uint64))


def test_presorted(program: native.Program) -> None:
    """Sorted, reverse-sorted and all-equal arrays, and a sorted array with a few swaps."""
    rng = rng_for(program.submission.seed, 3)
    n = int(rng.integers(20000, 60000))
    keys = np.sort(uniform_keys(rng, n))
    nearly = keys.copy()
    for _ in range(10):
        i, j = rng.integers(0, n, size=2)
        nearly[[i, j]] = nearly[[j, i]]
    run_case(program, "sorted", keys)
    run_case(program, "reversed", keys[::-1].copy())
    run_case(program, "all_equal", np.full(n, uniform_keys(rng, 1)[0], dtype=np.uint64))
    run_case(program, "nearly_sorted", nearly)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family(program: native.Program, family: str) -> None:
    """Each family of the benchmark's distribution alone, at a size drawn from the seed."""
    rng = rng_for(program.submission.seed, 4, FAMILIES.index(family))
    n = int(rng.integers(5000, 200000))
    run_case(program, family, family_block(rng, family, n, value_pools(rng)))


def test_mixed_sizes(program: native.Program) -> None:
    """The benchmark's distribution at sizes from a few hundred keys to twice the benchmark."""
    rng = rng_for(program.submission.seed, 5)
    for n in (
        int(rng.integers(100, 1000)),
        int(rng.integers(1000, 20000)),
        int(rng.integers(20000, 200000)),
        2 * BENCH_N + int(rng.integers(1, 1000)),
    ):
        run_case(program, f"mixed_{n}", mixed_keys(rng, n))


def test_cycles(program: native.Program, record_metric) -> None:
    """The metric: Callgrind's estimated cycles (Ir + 10 x L1 misses + 100 x last-level misses on
    the fixed model machine) for one sort of the benchmark array, whose output must be correct
    too."""
    sub = program.submission
    keys = mixed_keys(rng_for(sub.seed, 7), BENCH_N)
    sub.write_file("bench.bin", encode(keys))
    counts = program.count("run bench.bin bench.out", cache_sim=True, timeout=600)
    out = np.frombuffer(sub.read_file("bench.out"), dtype="<u8")
    assert_sorted_copy(out, keys, "benchmark")
    assert counts.cycles is not None
    assert counts.instructions >= FLOOR, (
        f"{counts.instructions} instructions is implausibly few for sorting {BENCH_N} keys "
        f"(floor {FLOOR}): was work done outside the measured process?"
    )
    record_metric(counts.cycles)
