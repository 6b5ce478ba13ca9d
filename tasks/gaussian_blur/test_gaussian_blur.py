"""Verifier of the gaussian_blur task.

The submission's blur.c is built with the task's own Makefile and main.c, checked for the rules
that can be checked on the object file, run on images drawn from ``submission.seed`` and compared
with a float64 reference computed here, in the pytest process. The benchmark image is then blurred
once under Callgrind; its output is checked too and its instruction count (the whole process,
harness included) is the metric.

Every input is drawn from the seed, through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it is
measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_autolab import native

#: The kernel (blur.h): a Gaussian of standard deviation 3, truncated at radius 9, normalised.
SIGMA = 3.0
RADIUS = 9
MAX_SIDE = 4096

#: The benchmark: the baseline costs about 0.96e9 instructions on it.
BENCH_WIDTH, BENCH_HEIGHT = 500, 400

#: Tolerance (the harness's ``./blur check`` applies the same rule): a pixel passes when
#: ``|out - ref| <= ATOL * max|in|``, where ref is the float64 result. Each output is two
#: 19-term weighted sums whose weights add up to 1, so float32 arithmetic in any order is off by
#: at most about 2 * 19 * 2^-24 * max|in| (4.5e-6 relative, typically ten times less; the shipped
#: baseline, in double, by about 1e-8). A half-precision intermediate (2^-11 = 4.9e-4), a kernel
#: cut short at radius 8 (2.9e-3 of the weight missing) or a box-filter or recursive (IIR)
#: approximation of the Gaussian (1e-3 and worse) all land far above it.
ATOL = 1e-5

#: A floor far below any correct program (eight output pixels per counted instruction): a count
#: under it means work done where Callgrind does not look.
FLOOR = BENCH_WIDTH * BENCH_HEIGHT // 8

#: What blur.c may define and call: only gaussian_blur(), memory allocation, the mem* functions
#: and <math.h>. Everything else (I/O, processes, threads, time, dlsym, ...) has no place in a
#: single-threaded image filter.
RULES = native.Rules(
    objects=("blur.o",),
    exports=("gaussian_blur",),
    allowed_calls=native.MEMORY_CALLS | native.MATH_CALLS,
    harness_objects=("main.o",),
)


# --- the float64 reference ---------------------------------------------------------------------


def kernel() -> np.ndarray:
    k = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    w = np.exp(-(k * k) / (2.0 * SIGMA * SIGMA))
    return w / w.sum()


def reference(image: np.ndarray) -> np.ndarray:
    """The blur in float64, separably (exact in exact arithmetic), edges clamped."""
    w = kernel()
    h, wd = image.shape
    padded = np.pad(image.astype(np.float64), RADIUS, mode="edge")
    rows = sum(w[k] * padded[:, k : k + wd] for k in range(2 * RADIUS + 1))
    return sum(w[k] * rows[k : k + h, :] for k in range(2 * RADIUS + 1))


# --- inputs ------------------------------------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """The benchmark's distribution: a smooth gradient, bright rectangles with sharp edges and
    uniform noise, values in about [0, 1.5]."""
    y, x = np.mgrid[0:height, 0:width]
    gx, gy = rng.random(2)
    img = 0.3 * (gx * x / width + gy * y / height) + 0.2 * rng.random((height, width))
    for _ in range(8):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(0, width // 4 + 2)), y0 + int(rng.integers(0, height // 4 + 2))
        img[y0:y1, x0:x1] += 0.5 * rng.random()
    return img.astype(np.float32)


def encode(image: np.ndarray) -> bytes:
    h, w = image.shape
    assert 1 <= w <= MAX_SIDE
    assert 1 <= h <= MAX_SIDE
    return np.array([w, h], dtype="<i4").tobytes() + np.ascontiguousarray(image, dtype="<f4").tobytes()


def assert_matches(out: np.ndarray, image: np.ndarray, what: str) -> None:
    h, w = image.shape
    ref = reference(image)
    tol = ATOL * float(np.abs(image.astype(np.float64)).max())
    if not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))
        y, x = (int(v) for v in bad[0])
        pytest.fail(
            f"{what}: {len(bad)} of {h * w} pixels are NaN or infinite (never written?), first out[{y}][{x}]"
        )
    err = np.abs(out.astype(np.float64) - ref)
    y, x = (int(v) for v in np.unravel_index(int(np.argmax(err)), err.shape))
    if err[y, x] <= tol:
        return
    wrong = err > tol
    interior = wrong[RADIUS : h - RADIUS, RADIUS : w - RADIUS]
    where = (
        "; all of them within 9 pixels of the border: check the clamped edges"
        if wrong.any() and not interior.any()
        else ""
    )
    pytest.fail(
        f"{what}: out[{y}][{x}] = {float(out[y, x]):.9g}, expected {ref[y, x]:.9g} (error {err[y, x]:.3g} > tolerance "
        f"{tol:.3g} = {ATOL:g} * max|in|; {int(wrong.sum())} of {h * w} pixels out of tolerance{where})"
    )


def run_case(program: native.Program, name: str, image: np.ndarray) -> None:
    """Run ./blur natively on one image and compare its output with the reference."""
    h, w = image.shape
    what = f"{name} ({w}x{h})"
    sub = program.submission
    sub.write_file(f"{name}.bin", encode(image))
    result = program.run(f"run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./blur failed: {result.describe()}\n{result.output[-2000:]}"
    raw = sub.read_file(f"{name}.out")
    assert len(raw) == w * h * 4, f"{what}: the output has {len(raw)} bytes, expected {w * h * 4}"
    assert_matches(np.frombuffer(raw, dtype="<f4").reshape(h, w), image, what)
    sub.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission) -> native.Program:
    """`make blur` in a pristine copy of environment/ with the submitted blur.c, built once; every
    run is of that binary (hash-checked) from a fresh private directory."""
    return native.build(submission, "make blur", binary="blur", rules=RULES, timeout=300)


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(program: native.Program) -> None:
    """blur.o defines only gaussian_blur(), calls only allocation/memory/math functions, runs no
    code before main(), holds no system call or Valgrind client request; the program has no
    writable code."""
    program.assert_rules()


#: Shapes (width, height) where edge handling and vector tails go wrong: single pixels, rows and
#: columns, images narrower than the kernel, sides one off a multiple of 8, 16 and 32.
SMALL_SHAPES = [(1, 1), (1, 57), (61, 1), (2, 3), (5, 3), (9, 9), (8, 8), (18, 19), (7, 40), (40, 7),
                (15, 17), (16, 16), (31, 33), (33, 64), (65, 9), (127, 20)]  # fmt: skip


@pytest.mark.parametrize(("width", "height"), SMALL_SHAPES, ids=[f"{w}x{h}" for w, h in SMALL_SHAPES])
def test_small_images(program: native.Program, width: int, height: int) -> None:
    image = photo(rng_for(program.submission.seed, 1, width, height), width, height)
    run_case(program, f"small_{width}x{height}", image)


def test_random_sizes(program: native.Program) -> None:
    """Three images of sizes drawn from the seed, one of them wide and flat, one tall and thin."""
    rng = rng_for(program.submission.seed, 2)
    sizes = [
        (int(rng.integers(100, 700)), int(rng.integers(100, 500))),
        (int(rng.integers(1000, 4097)), int(rng.integers(1, 30))),
        (int(rng.integers(1, 30)), int(rng.integers(1000, 4097))),
    ]
    for i, (w, h) in enumerate(sizes):
        run_case(program, f"random_size_{i}", photo(rng, w, h))


def test_impulse(program: native.Program) -> None:
    """One bright pixel on black: the output is the kernel itself, centred there (the weights and
    the normalisation), and near a corner, the kernel folded back by the clamped edges."""
    rng = rng_for(program.submission.seed, 3)
    for name, (y, x) in (("impulse_centre", (int(rng.integers(20, 40)), int(rng.integers(20, 40)))),
                         ("impulse_corner", (int(rng.integers(0, 4)), int(rng.integers(0, 4))))):  # fmt: skip
        image = np.zeros((int(rng.integers(60, 90)), int(rng.integers(60, 90))), dtype=np.float32)
        image[y, x] = 1.0
        run_case(program, name, image)


def test_bright_edges(program: native.Program) -> None:
    """The border rows and columns far brighter than the inside: every pixel within 9 of an edge
    depends on the clamping."""
    rng = rng_for(program.submission.seed, 4)
    image = photo(rng, int(rng.integers(40, 200)), int(rng.integers(40, 200)))
    image[0, :] += 50.0
    image[-1, :] += 30.0
    image[:, 0] += 40.0
    image[:, -1] += 20.0
    run_case(program, "bright_edges", image)


def test_value_ranges(program: native.Program) -> None:
    """Negative values, tiny and huge magnitudes, and a large offset with small variations: the
    blur is linear, so only floating-point arithmetic of the input's own scale is right."""
    rng = rng_for(program.submission.seed, 5)
    w, h = int(rng.integers(30, 120)), int(rng.integers(30, 120))
    cases = {
        "negative": photo(rng, w, h) - 0.8,
        "tiny": photo(rng, w, h) * 1e-20,
        "huge": photo(rng, w, h) * 1e30,
        "offset": 1000.0 + photo(rng, w, h),
        "checkerboard": np.indices((h, w)).sum(axis=0) % 2 * 2.0 - 1.0,
    }
    for name, image in cases.items():
        run_case(program, name, image.astype(np.float32))


def test_instructions(program: native.Program, record_metric) -> None:
    """The metric: Callgrind's instruction count for one blur of the benchmark image (500 x 400,
    drawn from the seed), whose output must be correct as well."""
    sub = program.submission
    image = photo(rng_for(sub.seed, 7), BENCH_WIDTH, BENCH_HEIGHT)
    sub.write_file("bench.bin", encode(image))
    counts = program.count("run bench.bin bench.out", timeout=600)
    out = np.frombuffer(sub.read_file("bench.out"), dtype="<f4")
    assert out.size == BENCH_WIDTH * BENCH_HEIGHT, (
        f"the benchmark output has {out.size} floats, expected {BENCH_WIDTH * BENCH_HEIGHT}"
    )
    assert_matches(out.reshape(BENCH_HEIGHT, BENCH_WIDTH), image, "benchmark")
    assert counts.instructions >= FLOOR, (
        f"{counts.instructions} instructions is implausibly few for a {BENCH_WIDTH}x{BENCH_HEIGHT} image "
        f"(floor {FLOOR}): was work done outside the measured process?"
    )
    record_metric(counts.instructions)
