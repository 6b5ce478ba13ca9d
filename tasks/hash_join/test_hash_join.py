"""Verifier of the hash_join task.

The submission's join.c is built with the task's own Makefile and main.c, checked for the rules
that can be checked on the object file, and run on pairs of relations drawn from
``submission.seed``; every result (the number of matching pairs, the sum of their payloads and a
checksum over the pairs) is compared exactly with a sort-based join computed here with numpy.
The benchmark join (2^18 rows of r, 2^20 rows of s) then runs once under Callgrind with the cache
simulation on a fixed model machine; its result is checked too, and the estimated cycle count
(the whole process, harness included) is the metric.

Every input is drawn from the seed through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it
is measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_autolab import native

#: The benchmark: 4 MiB of r and 16 MiB of s, against a 1 MiB simulated last-level cache.
BENCH_NR, BENCH_NS = 1 << 18, 1 << 20
MAX_ROWS = 1 << 24

#: A floor far below any correct program: two instructions per row. A count under it means work
#: done where Callgrind does not look.
FLOOR = 2 * (BENCH_NR + BENCH_NS)

#: What join.c may define and call: only hash_join(), memory allocation and the mem* functions.
#: Everything else (I/O, processes, threads, time, ...) has no place in a single-threaded join.
RULES = native.Rules(
    objects=("join.o",),
    exports=("hash_join",),
    allowed_calls=native.MEMORY_CALLS,
    harness_objects=("main.o",),
)

#: pair_hash() of join.h.
PAIR_MUL_S, PAIR_MUL_X = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD6E8FEB86659FD93)
U32 = np.uint64(32)


# --- inputs and the trusted join ---------------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def uniform_u64(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 1 << 64, size=n, dtype=np.uint64)


class Relations:
    """r and s, each as keys and payloads (uint64 arrays)."""

    def __init__(
        self, r_keys: np.ndarray, r_payloads: np.ndarray, s_keys: np.ndarray, s_payloads: np.ndarray
    ):
        self.r_keys, self.r_payloads, self.s_keys, self.s_payloads = r_keys, r_payloads, s_keys, s_payloads

    @property
    def nr(self) -> int:
        return int(self.r_keys.size)

    @property
    def ns(self) -> int:
        return int(self.s_keys.size)


def with_payloads(rng: np.random.Generator, r_keys: np.ndarray, s_keys: np.ndarray) -> Relations:
    r_keys, s_keys = r_keys.astype(np.uint64), s_keys.astype(np.uint64)
    return Relations(r_keys, uniform_u64(rng, r_keys.size), s_keys, uniform_u64(rng, s_keys.size))


def benchmark_relations(rng: np.random.Generator, nr: int, ns: int) -> Relations:
    """The benchmark's distribution. Keys of r: about 85% distinct, of which 60% uniform 64-bit
    values, 20% a strided sequence (multiples of 4096 from a random base) and 20% consecutive
    integers; the other rows repeat keys of those. Keys of s: 25% absent from r (half of them
    just past the consecutive range), 45% a uniform choice among the keys of r, 30% a Zipf
    choice (exponent 1.2) among them in a random order. Both relations in random order."""
    distinct = nr - nr * 15 // 100
    kind = rng.choice(3, size=distinct, p=[0.6, 0.2, 0.2])
    index = np.arange(distinct, dtype=np.uint64)
    stride_base, dense_base = uniform_u64(rng, 2)
    pool = np.where(
        kind == 0,
        uniform_u64(rng, distinct),
        np.where(kind == 1, stride_base + index * np.uint64(4096), dense_base + index),
    )
    r_keys = (
        np.concatenate([pool, pool[rng.integers(0, max(distinct, 1), size=nr - distinct)]])
        if distinct
        else np.zeros(nr, np.uint64)
    )
    s_kind = rng.choice(3, size=ns, p=[0.25, 0.45, 0.30]) if distinct else np.zeros(ns, np.int64)
    absent = np.where(
        rng.random(ns) < 0.5,
        uniform_u64(rng, ns),
        dense_base + np.uint64(distinct) + rng.integers(0, 1 << 20, size=ns, dtype=np.uint64),
    )
    if distinct:
        uniform_pick = pool[rng.integers(0, distinct, size=ns)]
        zipf_pick = pool[rng.permutation(distinct)[np.minimum(rng.zipf(1.2, size=ns), distinct) - 1]]
        s_keys = np.where(s_kind == 0, absent, np.where(s_kind == 1, uniform_pick, zipf_pick))
    else:
        s_keys = absent
    return with_payloads(rng, rng.permutation(r_keys), rng.permutation(s_keys))


def pair_hash(r_payloads: np.ndarray, s_payloads: np.ndarray) -> np.ndarray:
    x = r_payloads + s_payloads * PAIR_MUL_S
    x ^= x >> U32
    x *= PAIR_MUL_X
    x ^= x >> U32
    return x


def expected_result(rel: Relations) -> tuple[int, int, int]:
    """(matches, payload_sum, checksum) by sorting r and looking every key of s up in it."""
    order = np.argsort(rel.r_keys, kind="stable")
    r_keys, r_payloads = rel.r_keys[order], rel.r_payloads[order]
    lo = np.searchsorted(r_keys, rel.s_keys, side="left")
    counts = np.searchsorted(r_keys, rel.s_keys, side="right") - lo
    total = int(counts.sum())
    s_index = np.repeat(np.arange(rel.ns), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    r_index = np.repeat(lo, counts) + (np.arange(total) - first)
    rp, sp = r_payloads[r_index], rel.s_payloads[s_index]
    payload_sum = int((rp + sp).sum(dtype=np.uint64))
    checksum = int(pair_hash(rp, sp).sum(dtype=np.uint64))
    return total, payload_sum, checksum


def encode(rel: Relations) -> bytes:
    assert rel.nr <= MAX_ROWS
    assert rel.ns <= MAX_ROWS
    parts = [np.array([rel.nr, rel.ns], dtype="<u8").tobytes()]
    for keys, payloads in ((rel.r_keys, rel.r_payloads), (rel.s_keys, rel.s_payloads)):
        rows = np.empty((keys.size, 2), dtype="<u8")
        rows[:, 0], rows[:, 1] = keys, payloads
        parts.append(rows.tobytes())
    return b"".join(parts)


def assert_result(raw: bytes, rel: Relations, what: str) -> None:
    assert len(raw) == 24, f"{what}: the output has {len(raw)} bytes, expected 24"
    got = [int(x) for x in np.frombuffer(raw, dtype="<u8")]
    want = expected_result(rel)
    wrong = [
        f"{name} = {g}, expected {w}"
        for name, g, w in zip(("matches", "payload_sum", "checksum"), got, want, strict=True)
        if g != w
    ]
    assert not wrong, f"{what}: " + "; ".join(wrong)


def run_case(program: native.Program, name: str, rel: Relations) -> None:
    """Join one pair of relations with ./hjoin natively and compare the result."""
    what = f"{name} (nr={rel.nr}, ns={rel.ns})"
    sub = program.submission
    sub.write_file(f"{name}.bin", encode(rel))
    result = program.run(f"run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./hjoin failed: {result.describe()}\n{result.output[-2000:]}"
    assert_result(sub.read_file(f"{name}.out"), rel, what)
    sub.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission) -> native.Program:
    """`make hjoin` in a pristine copy of environment/ with the submitted join.c, built once;
    every run is of that binary (hash-checked) from a fresh private directory."""
    return native.build(submission, "make hjoin", binary="hjoin", rules=RULES, timeout=300)


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(program: native.Program) -> None:
    """join.o defines only hash_join(), calls only allocation/memory functions, runs no code
    before main(), holds no system call or Valgrind client request; the program has no writable
    code."""
    program.assert_rules()


def test_empty_relations(program: native.Program) -> None:
    """An empty r, an empty s, both empty: no pairs."""
    rng = rng_for(program.submission.seed, 1)
    none = np.zeros(0, dtype=np.uint64)
    run_case(program, "empty_r", with_payloads(rng, none, uniform_u64(rng, 100)))
    run_case(program, "empty_s", with_payloads(rng, uniform_u64(rng, 100), none))
    run_case(program, "empty_both", with_payloads(rng, none, none))


def test_many_to_many(program: native.Program) -> None:
    """Few distinct keys, each many times on both sides (a key a times in r and b times in s
    makes a * b pairs), including 0 and 2^64 - 1."""
    rng = rng_for(program.submission.seed, 2)
    values = np.concatenate([np.array([0, (1 << 64) - 1], dtype=np.uint64), uniform_u64(rng, 6)])
    for i, (nr, ns) in enumerate(((1, 1), (7, 300), (200, 150), (2000, 40))):
        run_case(
            program,
            f"many_{i}",
            with_payloads(rng, values[rng.integers(0, 8, nr)], values[rng.integers(0, 8, ns)]),
        )
    single = uniform_u64(rng, 1)
    run_case(program, "one_key", with_payloads(rng, np.repeat(single, 300), np.repeat(single, 500)))


def test_key_patterns(program: native.Program) -> None:
    """Keys that a weak hash function maps to few places: strides of 2^12, 2^32 and 2^56,
    consecutive integers, and keys that differ only in their top byte; s holds the keys of r
    and their neighbours."""
    rng = rng_for(program.submission.seed, 3)
    n = int(rng.integers(20000, 60000))
    index = np.arange(n, dtype=np.uint64)
    base = uniform_u64(rng, 1)[0]
    cases = {
        "stride_4096": base + index * np.uint64(1 << 12),
        "stride_2_32": base + index * np.uint64(1 << 32),
        "top_byte": (base & np.uint64((1 << 56) - 1)) | (index % np.uint64(256)) << np.uint64(56),
        "consecutive": base + index,
    }
    for name, r_keys in cases.items():
        s_keys = np.concatenate(
            [r_keys[rng.integers(0, n, n)], r_keys[rng.integers(0, n, n // 2)] + np.uint64(1)]
        )
        run_case(program, name, with_payloads(rng, rng.permutation(r_keys), rng.permutation(s_keys)))


def test_no_match_and_all_match(program: native.Program) -> None:
    """s disjoint from r; s equal to r (row for row, in another order)."""
    rng = rng_for(program.submission.seed, 4)
    n = int(rng.integers(10000, 50000))
    r_keys = uniform_u64(rng, n)
    run_case(program, "no_match", with_payloads(rng, r_keys, uniform_u64(rng, 2 * n)))
    run_case(program, "all_match", with_payloads(rng, r_keys, rng.permutation(r_keys)))


def test_mixed_sizes(program: native.Program) -> None:
    """The benchmark's distribution at sizes from tiny to beyond the benchmark's r, and with r
    larger than s."""
    rng = rng_for(program.submission.seed, 5)
    sizes = [
        (int(rng.integers(1, 50)), int(rng.integers(1, 200))),
        (int(rng.integers(500, 5000)), int(rng.integers(1000, 20000))),
        (int(rng.integers(50000, 200000)), int(rng.integers(10000, 50000))),
        (BENCH_NR + int(rng.integers(1, 99999)), int(rng.integers(100000, 400000))),
    ]
    for i, (nr, ns) in enumerate(sizes):
        run_case(program, f"mixed_{i}", benchmark_relations(rng, nr, ns))


def test_cycles(program: native.Program, record_metric) -> None:
    """The metric: Callgrind's estimated cycles (Ir + 10 x L1 misses + 100 x last-level misses on
    the fixed model machine) for one join of the benchmark relations, whose result must be right
    too."""
    sub = program.submission
    rel = benchmark_relations(rng_for(sub.seed, 7), BENCH_NR, BENCH_NS)
    sub.write_file("bench.bin", encode(rel))
    counts = program.count("run bench.bin bench.out", cache_sim=True, timeout=600)
    assert_result(sub.read_file("bench.out"), rel, "benchmark")
    assert counts.cycles is not None
    assert counts.instructions >= FLOOR, (
        f"{counts.instructions} instructions is implausibly few for joining {BENCH_NR} with {BENCH_NS} rows "
        f"(floor {FLOOR}): was work done outside the measured process?"
    )
    record_metric(counts.cycles)
