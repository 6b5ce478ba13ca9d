"""Verifier of the radix_sort task.

The submission's sort.c is built with the task's own Makefile and main.c, checked for the rules
that can be checked on the object file, and run on key arrays drawn from ``submission.seed``;
every output is compared, key for key, with numpy's sort of the same input. The benchmark array
(2^19 keys) is then sorted once under Callgrind with the cache simulation on a fixed model
machine; its output is checked too, and the estimated cycle count (the whole process, harness
included) is the metric.

Every input is drawn from the seed through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it
is measured.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from pytest_autolab import Submission

#: The benchmark: 2^19 keys (4 MiB, four times the simulated last-level cache).
BENCH_N = 1 << 19
MAX_N = 1 << 24

#: The model machine of the cache simulation (32 KiB 8-way L1s, 1 MiB 16-way last level,
#: 64-byte lines), whatever the host's caches are, so that a count is the same everywhere.
CACHE_GEOMETRY = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=1048576,16,64")

#: A floor far below any correct program: two instructions per key. A count under it means work
#: done where Callgrind does not look.
FLOOR = 2 * BENCH_N

#: What sort.o may call: memory allocation and the memory functions, qsort (the baseline's), abort.
_ALLOWED_CALLS = """
    malloc calloc realloc free aligned_alloc posix_memalign memalign
    memcpy memmove memset memcmp qsort abort __stack_chk_fail __memcpy_chk __memmove_chk __memset_chk
    _GLOBAL_OFFSET_TABLE_
"""
ALLOWED_CALLS = frozenset(_ALLOWED_CALLS.split())
#: Sections whose code runs before main() or after it returns.
STARTUP_SECTIONS = re.compile(r"^\.(pre)?init_array|^\.fini_array|^\.ctors|^\.dtors|^\.init$|^\.fini$")
#: The preamble of a Valgrind client request (rol rdi by 3, 13, 61, 51): such a request could
#: switch the counting off.
CLIENT_REQUEST = bytes.fromhex("48c1c70348c1c70d48c1c73d48c1c733")
#: Instructions that enter the kernel without a library call.
SYSTEM_CALL = re.compile(r"\s(syscall|sysenter|int\s+\$0x80)\b")


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
    blocks of 256 to 16383 keys; the blocks of all families are then put in a random order."""
    pools = value_pools(rng)
    blocks = []
    quotas = [int(n * share) for share in FAMILY_SHARES]
    quotas[0] += n - sum(quotas)
    for family, quota in zip(FAMILIES, quotas, strict=True):
        while quota > 0:
            size = min(quota, int(rng.integers(256, 16384)))
            blocks.append(family_block(rng, family, size, pools))
            quota -= size
    order = rng.permutation(len(blocks))
    return np.concatenate([blocks[i] for i in order]) if blocks else np.zeros(0, dtype=np.uint64)


def encode(keys: np.ndarray) -> bytes:
    assert keys.dtype == np.uint64 and keys.size <= MAX_N
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
        order = f"not sorted: out[{j}] = {int(out[j])} > out[{j + 1}] = {int(out[j + 1])} ({descents} descents)"
    else:
        order = "sorted, but not the same keys as the input (keys lost, duplicated or changed)"
    pytest.fail(
        f"{what}: out[{i}] = {int(out[i])}, expected {int(expected[i])}; {wrong.size} of {out.size} "
        f"positions differ; {order}"
    )


def run_case(submission: Submission, name: str, keys: np.ndarray) -> None:
    """Sort one array with ./rsort natively and compare the result with numpy's sort."""
    what = f"{name} (n={keys.size})"
    submission.write_file(f"{name}.bin", encode(keys))
    result = submission.exec(f"./rsort run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./rsort failed: {result.describe()}\n{result.output[-2000:]}"
    raw = submission.read_file(f"{name}.out")
    assert len(raw) == keys.size * 8, f"{what}: the output has {len(raw)} bytes, expected {keys.size * 8}"
    assert_sorted_copy(np.frombuffer(raw, dtype="<u8"), keys, what)
    submission.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build(submission: Submission):
    """`make` in a pristine copy of environment/ with the submitted sort.c."""
    return submission.exec("make 2>&1", timeout=300)


@pytest.fixture
def built(build, submission: Submission) -> Submission:
    if not build.ok:
        pytest.fail("the program does not build (see test_builds)")
    return submission


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(build) -> None:
    assert build.ok, f"make failed: {build.describe()}\n{build.output[-4000:]}"


def test_follows_the_rules(built: Submission) -> None:
    """sort.o defines only sort_keys(), calls only allocation/memory functions, enters the
    kernel only through them, runs no code before main() and holds no Valgrind client request."""
    nm = built.exec("nm -P sort.o", timeout=60)
    assert nm.ok, f"nm failed: {nm.describe()}"
    problems = []
    for line in nm.stdout.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind in "Uwv":  # undefined (w, v: weak undefined, resolved at link time all the same)
            if name not in ALLOWED_CALLS:
                problems.append(f"calls {name}()")
        elif kind in "iI":
            problems.append(f"defines the indirect function {name} (its resolver would run before main)")
        elif kind.isupper() and kind not in "N":
            if name != "sort_keys":
                problems.append(f"defines the global symbol {name} (make it static)")
            elif kind != "T":
                problems.append(f"sort_keys is not an ordinary function (nm type {kind})")
    headers = built.exec("objdump -h sort.o", timeout=60)
    assert headers.ok, f"objdump failed: {headers.describe()}"
    for line in headers.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].isdigit() and STARTUP_SECTIONS.search(fields[1]):
            problems.append(f"has a {fields[1]} section (code that runs outside sort_keys())")
    code = built.exec("objdump -d sort.o", timeout=60)
    assert code.ok, f"objdump failed: {code.describe()}"
    if SYSTEM_CALL.search(code.stdout):
        problems.append("makes a system call directly (syscall, sysenter or int 0x80)")
    if CLIENT_REQUEST in built.read_file("sort.o"):
        problems.append("contains a Valgrind client request")
    assert not problems, "sort.c breaks the rules: " + "; ".join(problems)


def test_tiny_arrays(built: Submission) -> None:
    """n = 0, 1, 2, 3 and every n up to 40, with few distinct values (insertion-sort and
    small-bucket edges)."""
    rng = rng_for(built.seed, 1)
    run_case(built, "empty", np.zeros(0, dtype=np.uint64))
    parts = [uniform_keys(rng, n) for n in (1, 2, 3)]
    parts += [rng.integers(0, 4, size=n, dtype=np.uint64) for n in range(4, 41)]
    for i, keys in enumerate(parts):
        run_case(built, f"tiny_{i}", keys)


def test_extreme_values(built: Submission) -> None:
    """0 and 2^64 - 1, keys that differ only in the top bit or only in the lowest byte, and
    keys whose signed order differs from their unsigned order."""
    rng = rng_for(built.seed, 2)
    n = int(rng.integers(1000, 5000))
    top = np.uint64(1 << 63)
    cases = {
        "extremes": rng.choice(np.array([0, (1 << 64) - 1, 1, (1 << 64) - 2], dtype=np.uint64), size=n),
        "top_bit": uniform_keys(rng, 1)[0] & ~top | rng.choice(np.array([0, 1 << 63], dtype=np.uint64), size=n),
        "low_byte": (uniform_keys(rng, 1)[0] & ~np.uint64(0xFF)) | rng.integers(0, 256, size=n, dtype=np.uint64),
        "signed_order": uniform_keys(rng, n) ^ (rng.integers(0, 2, size=n, dtype=np.uint64) * top),
    }
    for name, keys in cases.items():
        run_case(built, name, keys.astype(np.uint64))


def test_presorted(built: Submission) -> None:
    """Sorted, reverse-sorted and all-equal arrays, and a sorted array with a few swaps."""
    rng = rng_for(built.seed, 3)
    n = int(rng.integers(20000, 60000))
    keys = np.sort(uniform_keys(rng, n))
    nearly = keys.copy()
    for _ in range(10):
        i, j = rng.integers(0, n, size=2)
        nearly[[i, j]] = nearly[[j, i]]
    run_case(built, "sorted", keys)
    run_case(built, "reversed", keys[::-1].copy())
    run_case(built, "all_equal", np.full(n, uniform_keys(rng, 1)[0], dtype=np.uint64))
    run_case(built, "nearly_sorted", nearly)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family(built: Submission, family: str) -> None:
    """Each family of the benchmark's distribution alone, at a size drawn from the seed."""
    rng = rng_for(built.seed, 4, FAMILIES.index(family))
    n = int(rng.integers(5000, 200000))
    run_case(built, family, family_block(rng, family, n, value_pools(rng)))


def test_mixed_sizes(built: Submission) -> None:
    """The benchmark's distribution at sizes from a few hundred keys to twice the benchmark."""
    rng = rng_for(built.seed, 5)
    for n in (int(rng.integers(100, 1000)), int(rng.integers(1000, 20000)), int(rng.integers(20000, 200000)),
              2 * BENCH_N + int(rng.integers(1, 1000))):
        run_case(built, f"mixed_{n}", mixed_keys(rng, n))


def test_cycles(built: Submission, record_metric) -> None:
    """The metric: Callgrind's estimated cycles (Ir + 10 x L1 misses + 100 x last-level misses on
    the model machine) for one sort of the benchmark array, whose output must be correct too."""
    keys = mixed_keys(rng_for(built.seed, 7), BENCH_N)
    built.write_file("bench.bin", encode(keys))
    # The geometry goes first on the valgrind command line (it is parsed as Valgrind options).
    command = " ".join((*CACHE_GEOMETRY, "./rsort run bench.bin bench.out"))
    counts = built.callgrind(command, cache_sim=True, timeout=600)
    out = np.frombuffer(built.read_file("bench.out"), dtype="<u8")
    assert_sorted_copy(out, keys, "benchmark")
    assert counts.cycles is not None
    assert counts.instructions >= FLOOR, (
        f"{counts.instructions} instructions is implausibly few for sorting {BENCH_N} keys "
        f"(floor {FLOOR}): was work done outside the measured process?"
    )
    record_metric(counts.cycles)
