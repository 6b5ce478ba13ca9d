"""Verifier of the flash_attention task.

The submission's attention.c is built with the task's own Makefile and main.c, checked for the
rules that can be checked on the object file, run on inputs drawn from ``submission.seed`` and
compared with a float64 reference computed here, in the pytest process. The benchmark input is
then run once under Callgrind; its output is checked too and its instruction count (the whole
process, harness included) is the metric.

Every input is drawn from the seed, through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it is
measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_autolab import native

#: The d values the interface supports (attention.h): multiples of 8 up to 128.
SUPPORTED_D = tuple(range(8, 129, 8))
MAX_N = 4096

#: The benchmark: the baseline costs about 0.9e9 instructions on it.
BENCH_N, BENCH_D = 1024, 64

#: Tolerance (the harness's ``./attn check`` applies the same rule): an element passes when
#: ``|out - ref| <= ATOL * max|V| * max(1, max|S| / 16)``, where ref is the float64 result and
#: S = QK^T/sqrt(d). Float32 implementations land near 1e-6 * max|V| (the shipped baseline,
#: which works in double, near 1e-8); an exp() with a relative error of 1e-4 or a lost
#: normalisation lands above it. The second factor covers the rounding of large scores:
#: a float32 score of size s is off by about s * 1e-7 * sqrt(d), and softmax turns that shift
#: into a relative error of the weights.
ATOL = 1e-4

#: A floor far below any correct program (64 multiply-adds per counted instruction on the
#: benchmark, where AVX2 does 8 per FMA): a count under it means work done where Callgrind
#: does not look.
FLOOR = BENCH_N * BENCH_N * BENCH_D // 64

#: What attention.c may define and call: only attention(), memory allocation, the mem*
#: functions and <math.h>. Everything else (I/O, processes, threads, time, dlsym, ...) has no
#: place in a single-threaded numeric kernel.
RULES = native.Rules(
    objects=("attention.o",),
    exports=("attention",),
    allowed_calls=native.MEMORY_CALLS | native.MATH_CALLS,
    harness_objects=("main.o",),
)


# --- inputs and the float64 reference ----------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def random_input(rng: np.random.Generator, n: int, d: int, *, q_scale: float = 1.0, v_scale: float = 1.0):
    """Q, K standard normal (scaled), V uniform in [-v_scale, v_scale]: the benchmark's distribution."""
    q = rng.standard_normal((n, d)) * q_scale
    k = rng.standard_normal((n, d)) * q_scale
    v = rng.uniform(-v_scale, v_scale, (n, d))
    return q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)


def encode(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> bytes:
    n, d = q.shape
    assert 1 <= n <= MAX_N
    assert d in SUPPORTED_D
    assert k.shape == v.shape == (n, d)
    parts = [np.array([n, d], dtype="<i4").tobytes()]
    parts += [np.ascontiguousarray(a, dtype="<f4").tobytes() for a in (q, k, v)]
    return b"".join(parts)


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, float]:
    """softmax(QK^T/sqrt(d)) V in float64, and the largest |score|."""
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    s = q64 @ k64.T / np.sqrt(q.shape[1])
    smax = float(np.abs(s).max())
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    return p @ v64, smax


def assert_matches(out: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, what: str) -> None:
    n, d = q.shape
    ref, smax = reference(q, k, v)
    tol = ATOL * float(np.abs(v).max()) * max(1.0, smax / 16.0)
    if not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))
        i, c = (int(x) for x in bad[0])
        pytest.fail(
            f"{what}: {len(bad)} of {n * d} outputs are NaN or infinite, first out[{i}][{c}] = {out[i, c]}"
        )
    err = np.abs(out.astype(np.float64) - ref)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    i, c = (int(x) for x in worst)
    assert err[i, c] <= tol, (
        f"{what}: out[{i}][{c}] = {out[i, c]!r}, expected {ref[i, c]!r} "
        f"(error {err[i, c]:.3g} > tolerance {tol:.3g}; {int((err > tol).sum())} of {n * d} elements out of tolerance)"
    )


def run_case(program: native.Program, name: str, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    """Run ./attn natively on one input and compare its output with the reference."""
    n, d = q.shape
    what = f"{name} (n={n}, d={d})"
    sub = program.submission
    sub.write_file(f"{name}.bin", encode(q, k, v))
    result = program.run(f"run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./attn failed: {result.describe()}\n{result.output[-2000:]}"
    raw = sub.read_file(f"{name}.out")
    assert len(raw) == n * d * 4, f"{what}: the output has {len(raw)} bytes, expected {n * d * 4}"
    out = np.frombuffer(raw, dtype="<f4").reshape(n, d)
    assert_matches(out, q, k, v, what)
    sub.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission) -> native.Program:
    """`make attn` in a pristine copy of environment/ with the submitted attention.c, built once;
    every run is of that binary (hash-checked) from a fresh private directory."""
    return native.build(submission, "make attn", binary="attn", rules=RULES, timeout=300)


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(program: native.Program) -> None:
    """attention.o defines only attention(), calls only allocation/memory/math functions, runs no
    code before main(), holds no system call or Valgrind client request; the program has no
    writable code."""
    program.assert_rules()


@pytest.mark.parametrize("d", SUPPORTED_D)
def test_matches_reference(program: native.Program, d: int) -> None:
    """One small and one mid-sized n (drawn from the seed) per supported d, with score scales
    from nearly uniform to sharply peaked attention."""
    rng = rng_for(program.submission.seed, 1, d)
    for size, n in (("small", int(rng.integers(1, 24))), ("mid", int(rng.integers(24, 320)))):
        q, k, v = random_input(
            rng, n, d, q_scale=float(rng.uniform(0.3, 1.6)), v_scale=float(rng.uniform(0.5, 4.0))
        )
        run_case(program, f"random_{size}_d{d}", q, k, v)


def test_single_row(program: native.Program) -> None:
    """n = 1: the softmax of one score is 1, so out = V."""
    rng = rng_for(program.submission.seed, 2)
    d = int(rng.choice(SUPPORTED_D))
    run_case(program, "single_row", *random_input(rng, 1, d))


def test_block_edges(program: native.Program) -> None:
    """n just around common tile sizes, where padding and masking go wrong."""
    rng = rng_for(program.submission.seed, 3)
    for base in (8, 16, 32, 64, 128):
        n = base + int(rng.choice([-1, 1]))
        d = int(rng.choice(SUPPORTED_D))
        run_case(program, f"edge_{n}", *random_input(rng, n, d))


@pytest.mark.parametrize("shape", ["mid", "benchmark"])
def test_large_scores(program: native.Program, shape: str) -> None:
    """Scores up to about +-150: exp() overflows float32 above 88, so the row maximum must be
    subtracted (or its equivalent done online). Also at the benchmark's shape (n=1024, d=64), so
    that a softmax that is stable only for small inputs cannot pass."""
    rng = rng_for(program.submission.seed, 4, 0 if shape == "mid" else 1)
    if shape == "mid":
        n, d = int(rng.integers(100, 300)), int(rng.choice((32, 64, 128)))
    else:
        n, d = BENCH_N, BENCH_D
    q, k, v = random_input(rng, n, d)
    s = q.astype(np.float64) @ k.T.astype(np.float64) / np.sqrt(d)
    factor = np.sqrt(rng.uniform(110, 150) / np.abs(s).max())
    run_case(program, f"large_scores_{shape}", q * np.float32(factor), k * np.float32(factor), v)


def test_very_negative_scores(program: native.Program) -> None:
    """Every score of a row near -300 with a spread of a few units: exp() of each one underflows
    to 0 in float32, yet the softmax is well defined."""
    rng = rng_for(program.submission.seed, 5)
    n, d = int(rng.integers(50, 200)), int(rng.choice((32, 64)))
    base = rng.standard_normal(d)
    base /= np.linalg.norm(base)
    k = base * 17.0 + rng.standard_normal((n, d)) * 0.15
    q = -base * 17.0 * np.sqrt(d) + rng.standard_normal((n, d)) * 0.15
    v = rng.uniform(-1, 1, (n, d))
    run_case(program, "very_negative", q.astype(np.float32), k.astype(np.float32), v.astype(np.float32))


def test_identical_rows(program: native.Program) -> None:
    """All keys equal: uniform weights, every output row is the mean of V. All queries equal
    against random keys: every output row is the same."""
    rng = rng_for(program.submission.seed, 6)
    n, d = int(rng.integers(30, 200)), int(rng.choice(SUPPORTED_D))
    q, k, v = random_input(rng, n, d)
    run_case(program, "identical_keys", q, np.repeat(k[:1], n, axis=0), v)
    run_case(program, "identical_queries", np.repeat(q[:1], n, axis=0), k, v)


def test_instructions(program: native.Program, record_metric) -> None:
    """The metric: Callgrind's instruction count for one run on the benchmark input (n=1024,
    d=64, drawn from the seed), whose output must be correct as well."""
    sub = program.submission
    q, k, v = random_input(rng_for(sub.seed, 7), BENCH_N, BENCH_D)
    sub.write_file("bench.bin", encode(q, k, v))
    counts = program.count("run bench.bin bench.out", timeout=600)
    out = np.frombuffer(sub.read_file("bench.out"), dtype="<f4")
    assert out.size == BENCH_N * BENCH_D, (
        f"the benchmark output has {out.size} floats, expected {BENCH_N * BENCH_D}"
    )
    assert_matches(out.reshape(BENCH_N, BENCH_D), q, k, v, "benchmark")
    assert counts.instructions >= FLOOR, (
        f"{counts.instructions} instructions is implausibly few for n={BENCH_N}, d={BENCH_D} "
        f"(floor {FLOOR}): was work done outside the measured process?"
    )
    record_metric(counts.instructions, details=counts.details())
