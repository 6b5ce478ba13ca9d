"""Verifier of the levenshtein task.

The submission's levenshtein.c is built with the task's own Makefile and main.c, checked for the
rules that can be checked on the object file, run on sets of string pairs drawn from
``submission.seed`` and every distance is compared with a trusted bit-parallel implementation
here, in the pytest process (Python integers are bit-vectors of any length). The benchmark set
is then run once under Callgrind; its distances are checked too and its instruction count (the
whole process, harness included) is the metric.

Every input is drawn from the seed, through independent streams (``default_rng([seed, tag])``),
and the benchmark input is never run outside Callgrind: a program cannot have seen it before it is
measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from pytest_autolab import native

#: The longest string the harness accepts (levenshtein.h).
MAX_LEN = 8192

#: The benchmark: (count, shortest, longest) of the short, medium and long pairs; the baseline
#: spends about 0.88e9 instructions on it.
BENCH_GROUPS = ((12000, 1, 64), (200, 65, 600), (6, 1000, 2500))
#: Alphabet sizes of the benchmark's strings (each pair draws its own symbols among the 256 bytes).
BENCH_ALPHABETS = (2, 4, 20, 256)

#: What levenshtein.c may define and call: only edit_distances(), memory allocation and the mem*
#: functions. Everything else (I/O, processes, threads, time, dlsym, ...) has no place here.
RULES = native.Rules(
    objects=("levenshtein.o",),
    exports=("edit_distances",),
    allowed_calls=native.MEMORY_CALLS,
    harness_objects=("main.o",),
)

Pair = tuple[bytes, bytes]


# --- the trusted distance ------------------------------------------------------------------------


def levenshtein(a: bytes, b: bytes) -> int:
    """Levenshtein distance by Myers' bit-parallel algorithm (Hyyrö's formulation), with one
    Python integer as the whole column: O(len(b)) big-integer operations."""
    if len(a) > len(b):
        a, b = b, a
    m = len(a)
    if m == 0:
        return len(b)
    peq: dict[int, int] = {}
    for i, c in enumerate(a):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for c in b:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


# --- inputs --------------------------------------------------------------------------------------


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([seed, *tags])


def symbols(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct byte values, drawn anew for each pair (so 0, 0x80 and 0xff all occur)."""
    return rng.choice(256, size=size, replace=False).astype(np.uint8)


def random_string(rng: np.random.Generator, length: int, alphabet: np.ndarray) -> bytes:
    return alphabet[rng.integers(0, len(alphabet), length)].tobytes()


def mutated(rng: np.random.Generator, s: bytes, edits: int, alphabet: np.ndarray) -> bytes:
    """``s`` after ``edits`` random substitutions, insertions and deletions."""
    out = bytearray(s)
    for _ in range(edits):
        kind, pos = int(rng.integers(0, 3)), int(rng.integers(0, len(out) + 1))
        sym = int(alphabet[rng.integers(0, len(alphabet))])
        if kind == 0 and pos < len(out):
            out[pos] = sym
        elif kind == 2 and pos < len(out):
            del out[pos]
        elif len(out) < MAX_LEN:
            out.insert(pos, sym)
    return bytes(out)


def typical_pair(
    rng: np.random.Generator, lo: int, hi: int, alphabets: Sequence[int] = BENCH_ALPHABETS
) -> Pair:
    """Half of the time a string and a copy with a few edits, else two unrelated strings."""
    alphabet = symbols(rng, int(rng.choice(alphabets)))
    a = random_string(rng, int(rng.integers(lo, hi + 1)), alphabet)
    if rng.random() < 0.5:
        return a, mutated(rng, a, int(rng.integers(0, 2 + len(a) // 8)), alphabet)
    return a, random_string(rng, int(rng.integers(lo, hi + 1)), alphabet)


def bench_pairs(seed: int) -> list[Pair]:
    """The benchmark set. Lengths are spread evenly over each group's range and half of each
    group is similar pairs, so that the instruction count of a program hardly depends on the
    seed; the strings, their alphabets and the edits are random."""
    rng = rng_for(seed, 9)
    pairs = []
    for count, lo, hi in BENCH_GROUPS:
        lengths = lo + (np.arange(count) * (hi - lo + 1)) // count
        others = np.roll(lengths, count // 2)  # fixed, so that sum(m * n) is too
        for i in range(count):
            alphabet = symbols(rng, BENCH_ALPHABETS[(i // 2) % len(BENCH_ALPHABETS)])
            a = random_string(rng, int(lengths[i]), alphabet)
            if i % 2:
                b = mutated(rng, a, int(rng.integers(0, 2 + len(a) // 8)), alphabet)
            else:
                b = random_string(rng, int(others[i]), alphabet)
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return [pairs[i] for i in rng.permutation(len(pairs))]


def encode(pairs: Sequence[Pair], *, share: bool = False) -> bytes:
    """The harness's input file. With ``share``, a string equal to an earlier one (or to a part
    of the text) is not stored again but pointed at, so strings overlap in the text."""
    text = bytearray()
    records = []
    for a, b in pairs:
        offsets = []
        for s in (a, b):
            found = text.find(s) if share and s else -1
            if found < 0:
                found = len(text)
                text += s
            offsets.append(found)
        records.append((offsets[0], len(a), offsets[1], len(b)))
    header = np.array([len(pairs), len(text)], dtype="<i4").tobytes()
    return header + np.array(records, dtype="<u4").tobytes() + bytes(text)


def assert_distances(got: np.ndarray, pairs: Sequence[Pair], what: str) -> None:
    wrong = []
    for i, (a, b) in enumerate(pairs):
        if int(got[i]) != (want := levenshtein(a, b)):
            wrong.append((i, int(got[i]), want))
    if wrong:
        i, g, w = wrong[0]
        a, b = pairs[i]
        pytest.fail(
            f"{what}: {len(wrong)} of {len(pairs)} distances are wrong; first: pair {i} "
            f"(lengths {len(a)} and {len(b)}, a starts {a[:16].hex()}, b starts {b[:16].hex()}): "
            f"got {g}, expected {w}"
        )


def run_case(program: native.Program, name: str, pairs: Sequence[Pair], *, share: bool = False) -> None:
    """Run ./lev natively on one set of pairs and check every distance."""
    what = f"{name} ({len(pairs)} pairs)"
    sub = program.submission
    sub.write_file(f"{name}.bin", encode(pairs, share=share))
    result = program.run(f"run {name}.bin {name}.out", timeout=60)
    assert result.ok, f"{what}: ./lev failed: {result.describe()}\n{result.output[-2000:]}"
    raw = sub.read_file(f"{name}.out")
    assert len(raw) == 4 * len(pairs), f"{what}: the output has {len(raw)} bytes, expected {4 * len(pairs)}"
    assert_distances(np.frombuffer(raw, dtype="<i4"), pairs, what)
    sub.exec(f"rm -f {name}.bin {name}.out", timeout=30)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission) -> native.Program:
    """`make lev` in a pristine copy of environment/ with the submitted levenshtein.c, built once;
    every run is of that binary (hash-checked) from a fresh private directory."""
    return native.build(submission, "make lev", binary="lev", rules=RULES, timeout=300)


# --- tests (the metric test comes last) --------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(program: native.Program) -> None:
    """levenshtein.o defines only edit_distances(), calls only memory functions, runs no code
    before main(), holds no system call or Valgrind client request; the program has no writable
    code."""
    program.assert_rules()


def test_short_pairs(program: native.Program) -> None:
    """3000 pairs of 0..64 bytes over alphabets of 1 to 256 symbols, similar and unrelated."""
    rng = rng_for(program.submission.seed, 1)
    pairs = [typical_pair(rng, 0, 64, (1, 2, 4, 20, 26, 256)) for _ in range(3000)]
    run_case(program, "short", pairs)


def test_word_boundaries(program: native.Program) -> None:
    """Lengths around multiples of 64 (one more or one less than a machine word or a vector)."""
    rng = rng_for(program.submission.seed, 2)
    lengths = [k * 64 + e for k in range(1, 9) for e in (-1, 0, 1)]
    pairs = []
    for _ in range(120):
        alphabet = symbols(rng, int(rng.choice((2, 4, 256))))
        a = random_string(rng, int(rng.choice(lengths)), alphabet)
        b = random_string(rng, int(rng.choice(lengths)), alphabet)
        pairs.append(
            (a, b) if rng.random() < 0.5 else (a, mutated(rng, a, int(rng.integers(1, 20)), alphabet))
        )
    run_case(program, "word_boundaries", pairs)


def test_long_pairs(program: native.Program) -> None:
    """A few pairs up to the longest supported length (8192), similar and unrelated."""
    rng = rng_for(program.submission.seed, 3)
    pairs = [typical_pair(rng, 2000, MAX_LEN) for _ in range(6)]
    alphabet = symbols(rng, 4)
    a = random_string(rng, MAX_LEN, alphabet)
    pairs.append((a, random_string(rng, MAX_LEN, alphabet)))  # distance in the thousands
    pairs.append((a, mutated(rng, a, 3, alphabet)))
    run_case(program, "long", pairs)


def test_edge_cases(program: native.Program) -> None:
    """Empty strings, identical and overlapping strings, one string inside the other, and every
    byte value from 0 to 255 (no terminator: 0 is an ordinary symbol)."""
    rng = rng_for(program.submission.seed, 4)
    every_byte = bytes(rng.permutation(256).astype(np.uint8))
    s = random_string(rng, int(rng.integers(100, 400)), symbols(rng, 20))
    cut = int(rng.integers(1, len(s) - 1))
    pairs = [
        (b"", b""),
        (b"", s[:1]),
        (s[:70], b""),
        (s, s),
        (s[:cut], s),
        (s[cut:], s),
        (s[cut // 2 : cut], s),
        (every_byte, every_byte[::-1]),
        (every_byte, bytes(reversed(every_byte[:64]))),
        (b"\x00" * 40, b"\x00" * 41),
        (b"\x00" * 100, b"\xff" * 100),
        (b"\x80" * 65 + b"\x7f", b"\x7f" + b"\x80" * 64),
    ]
    run_case(program, "edge_cases", pairs, share=True)


def test_adversarial_pairs(program: native.Program) -> None:
    """Pairs that typical inputs rarely produce: a rotated string (the best alignment runs far
    from the main diagonal, beyond any fixed band), long runs of one symbol (carries through
    whole machine words), periodic strings, and distances in the thousands (above 255)."""
    rng = rng_for(program.submission.seed, 5)
    pairs = []
    for _ in range(6):
        alphabet = symbols(rng, int(rng.choice((4, 20, 256))))
        a = random_string(rng, int(rng.integers(300, 3000)), alphabet)
        shift = int(rng.integers(len(a) // 5, len(a) // 3))
        pairs.append((a, a[shift:] + a[:shift]))  # rotation: distance at most 2 * shift
        pairs.append((a, a[shift:]))  # a long deletion at the front
    for _ in range(4):
        alphabet = symbols(rng, 2)
        x, y = (bytes([int(c)]) for c in alphabet)
        run = int(rng.integers(100, 2000))
        pairs.append((x * run, x * (run // 2) + y + x * (run // 2)))
        pairs.append((x * run + y * 3, y * 3 + x * int(rng.integers(run // 2, run))))
        period = x * int(rng.integers(1, 6)) + y
        pairs.append((period * int(rng.integers(20, 200)), period[::-1] * int(rng.integers(20, 200))))
    alphabet = symbols(rng, 256)
    for _ in range(3):  # unrelated long strings: distances of a thousand and more
        pairs.append(
            (
                random_string(rng, int(rng.integers(1200, 4000)), alphabet),
                random_string(rng, int(rng.integers(1200, 4000)), alphabet),
            )
        )
    run_case(program, "adversarial", pairs)


def test_instructions(program: native.Program, record_metric) -> None:
    """The metric: Callgrind's instruction count for one run on the benchmark set (12,206 pairs
    drawn from the seed), whose distances must all be correct as well."""
    sub = program.submission
    pairs = bench_pairs(sub.seed)
    sub.write_file("bench.bin", encode(pairs))
    counts = program.count("run bench.bin bench.out", timeout=600)
    got = np.frombuffer(sub.read_file("bench.out"), dtype="<i4")
    assert got.size == len(pairs), f"the benchmark output has {got.size} distances, expected {len(pairs)}"
    assert_distances(got, pairs, "benchmark")
    floor = bench_floor(pairs)
    assert counts.instructions >= floor, (
        f"{counts.instructions} instructions is implausibly few for this benchmark (floor {floor}): "
        "was work done outside the measured process?"
    )
    record_metric(counts.instructions)


def bench_floor(pairs: Sequence[Pair]) -> int:
    """A count far below any correct program: one instruction per 32 64-row word steps of the
    bit-parallel algorithm (AVX2 does four word steps in about 30 instructions)."""
    return sum(-(-min(len(a), len(b)) // 64) * max(len(a), len(b)) for a, b in pairs) // 32
