"""Verifier of the zero_copy_csv task.

The submission's src/csv.rs is built into the task's own crate (src/lib.rs forbids unsafe code in
it) and linked with the task's C harness. Documents are generated here, in the pytest process, and
parsed by the program in the sandbox and by the trusted reference (environment/csvref.py, loaded
from the task folder, never from the sandbox); the aggregates must agree exactly. Hypothesis
searches the dialect's corners (empty fields, quotes inside quotes, line breaks and CRLF inside
quotes, multi-byte UTF-8, long fields, a last record with or without a terminator) and shrinks
what it finds. The benchmark document is then run once under Callgrind; its output is checked too
and its instruction count (the whole process, harness included) is the metric.

Every input is drawn from ``submission.seed``: the benchmark's pools of field values, the seeded
documents and Hypothesis's own seed.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine as hypothesis_engine

from pytest_autolab import Submission, native, pristine_module

#: The trusted reference, from the task folder's pristine environment/ (not from the sandbox).
csvref = pristine_module(__file__, "csvref.py")

#: Bytes of the benchmark document: about 13 MB in 100,000 records (the baseline executes
#: about 1.2e9 instructions on it).
BENCH_MIN_BYTES = 8_000_000
#: A floor far below any correct program: a quarter of an instruction per byte of the document.
#: A count under it means work done where Callgrind does not look.
FLOOR_PER_BYTE = 0.25
#: How long Hypothesis may shrink a failing batch (each step is a run of the program in the
#: sandbox): the failure then shows the smallest batch found so far.
SHRINK_SECONDS = 45
#: src/csv.rs may not hold these: `global_asm!` needs no `unsafe` (in Rust 1.63) and would put
#: code or symbols outside the module's functions.
FORBIDDEN_SOURCE = re.compile(r"\bglobal_asm\b")

#: The Rust crate: every check on the linked program (no writable code, no client request, no
#: symbol of the submission exported); the objects of a Rust crate cannot be told apart from the
#: standard library's, so the module is held by the compiler (forbid(unsafe_code)) instead.
RULES = native.Rules(objects=(), allowed_calls=None)


# --- running documents through the program -------------------------------------------------------


def expected_text(doc: bytes) -> str:
    return csvref.format_stats(csvref.aggregate(csvref.parse(doc)))


def show(doc: bytes, limit: int = 300) -> str:
    text = repr(doc[:limit])
    return text + (f"... ({len(doc)} bytes)" if len(doc) > limit else "")


def first_difference(got: str, want: str) -> str:
    got_lines, want_lines = got.splitlines(), want.splitlines()
    for g, w in zip(got_lines, want_lines, strict=False):
        if g != w:
            return f"got      {g!r}\n  expected {w!r}"
    return f"got {len(got_lines)} lines, expected {len(want_lines)}:\n  got      {got!r}\n  expected {want!r}"


def run_batch(program: native.Program, name: str, docs: list[bytes]) -> list[str]:
    """The program's output for each document (one run of ./csvagg batch)."""
    data = b"".join(struct.pack("<Q", len(doc)) + doc for doc in docs)
    program.submission.write_file(f"{name}.bin", data)
    result = program.run(f"batch {name}.bin {name}.out", timeout=120)
    assert result.ok, f"{name}: ./csvagg failed: {result.describe()}\n{result.output[-2000:]}"
    text = program.submission.read_file(f"{name}.out").decode("utf-8", errors="replace")
    program.submission.exec(f"rm -f {name}.bin {name}.out", timeout=30)
    parts = re.split(r"^document \d+\n", text, flags=re.MULTILINE)
    results = parts[1:] if parts[0] == "" else []
    assert len(results) == len(docs), (
        f"{name}: expected {len(docs)} results in the batch output, got {len(results)}"
    )
    return results


def assert_batch(program: native.Program, name: str, docs: list[bytes]) -> None:
    for i, (doc, got) in enumerate(zip(docs, run_batch(program, name, docs), strict=False)):
        want = expected_text(doc)
        assert got == want, f"{name}: document {i} = {show(doc)}\n  {first_difference(got, want)}"


# --- documents -------------------------------------------------------------------------------------

#: Hand-picked corners of the dialect (each must parse as csvref.parse says).
CORNERS = [
    b"",
    b"\n",
    b"\r\n",
    b"\n\n",
    b'""',
    b'""\n',
    b",",
    b",\n",
    b",,,\r\n,,",
    b"a",
    b"a\n",
    b"a\r\nb",
    b'"a""b"',
    b'""""',
    b'"""",""""""',
    b'"a\nb","c\r\nd"\n"\r\n"',
    b'"\n"',
    b'"\r"',
    b'x,"",y\n,"",\n',
    b"-0,-,007,+5, 1,1 ,123456789012345678,1234567890123456789,-123456789012345678",
    b'"42","-7",42\n',
    'é,ü€,😀日本\n"ñ""😀","😀,😀"'.encode(),
    b"a,b,c\nd\ne,f,g,h,i\n",
    b"a,b\n\nc,d\n",
]


def seeded_documents(rng: np.random.Generator, count: int) -> list[bytes]:
    """Random documents from small alphabets that hit the dialect's special bytes often."""
    pieces = [b"a", b"Z", b"0", b"9", b"-", b" ", b",", b'"', b"\r", b"\n", b"\r\n", b"\t", b"\x00"]
    pieces += [s.encode() for s in ("é", "€", "😀", "日", "ß")]
    docs = []
    for _ in range(count):
        records = []
        for _ in range(int(rng.integers(0, 7))):
            record = []
            for _ in range(int(rng.integers(1, 6))):
                kind = int(rng.integers(0, 10))
                if kind < 6:
                    record.append(
                        b"".join(
                            pieces[i] for i in rng.integers(0, len(pieces), size=int(rng.integers(0, 12)))
                        )
                    )
                elif kind < 9:
                    record.append(
                        str(int(rng.integers(-(10**18), 10**18)) // 10 ** int(rng.integers(0, 18))).encode()
                    )
                else:
                    record.append(pieces[int(rng.integers(0, len(pieces)))] * int(rng.integers(8, 300)))
            records.append(record)
        docs.append(
            csvref.encode(
                records,
                terminators=[b"\r\n" if rng.integers(0, 2) else b"\n" for _ in records],
                quote=[[bool(rng.integers(0, 3) == 0) for _ in r] for r in records],
                trailing=bool(rng.integers(0, 2)),
            )
        )
    return docs


#: Pieces of field text that hit the dialect's special bytes and multi-byte UTF-8.
SPECIAL_PIECES = st.sampled_from(
    [",", '"', '""', "\r", "\n", "\r\n", " ", "-", "0", "7", "é", "€", "😀", "日"]
)
FIELDS = st.one_of(
    st.lists(st.one_of(SPECIAL_PIECES, st.characters(exclude_categories=("Cs",))), max_size=12).map("".join),
    st.from_regex(r"-?[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"-?[0-9]{17,20}", fullmatch=True),  # around the 18-digit limit
    st.builds(lambda piece, times: piece * times, SPECIAL_PIECES, st.integers(20, 400)),
).map(lambda s: s.encode("utf-8"))


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    records = draw(st.lists(st.lists(FIELDS, min_size=1, max_size=5), max_size=6))
    return csvref.encode(
        records,
        terminators=[draw(st.sampled_from([b"\n", b"\r\n"])) for _ in records],
        quote=[[draw(st.booleans()) for _ in record] for record in records],
        trailing=draw(st.booleans()),
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(submission: Submission) -> native.Program:
    """`make csvagg` in a pristine copy of environment/ with the submitted src/csv.rs (built before
    any input file exists in the sandbox)."""
    return native.build(submission, "make csvagg", binary="csvagg", rules=RULES, timeout=600)


@pytest.fixture
def built(program: native.Program) -> native.Program:
    program.assert_built()
    return program


# --- tests (the metric test comes last) ------------------------------------------------------------


def test_builds(program: native.Program) -> None:
    program.assert_built()


def test_follows_the_rules(built: native.Program) -> None:
    """The linked program passes the native checks, and src/csv.rs holds no global_asm!."""
    built.assert_rules()
    source = built.submission.read_file("src/csv.rs").decode("utf-8", errors="replace")
    found = FORBIDDEN_SOURCE.search(source)
    assert not found, f"src/csv.rs uses {found.group(0)}!, which is not allowed (see instruction.md)"


def test_dialect_corners(built: native.Program) -> None:
    """Empty documents and fields, "" inside quotes, line breaks inside quotes, integers and
    near-integers, ragged records, multi-byte UTF-8."""
    assert_batch(built, "corners", CORNERS)


def test_seeded_documents(built: native.Program) -> None:
    """500 random documents from small alphabets of special bytes, drawn from the seed."""
    assert_batch(built, "seeded", seeded_documents(np.random.default_rng([built.submission.seed, 1]), 500))


def test_long_fields(built: native.Program) -> None:
    """Fields of hundreds of kilobytes: unquoted, quoted with line breaks, and full of "" ."""
    rng = np.random.default_rng([built.submission.seed, 2])
    letters = "abcdefghijklmnopqrstuvwxyzé€😀 ".encode()
    long_plain = bytes(rng.choice(list(letters[:26]), size=int(rng.integers(200_000, 400_000))).tolist())
    long_text = ("é€😀 " * int(rng.integers(20_000, 60_000))).encode() + b'"\r\n,\n"'
    long_quotes = b'"' * int(rng.integers(100_000, 200_000)) + b"x"
    records = [[long_plain, b"1"], [b"2", long_text], [long_quotes, b"", long_plain[:7]]]
    docs = [csvref.encode(records, trailing=t) for t in (True, False)]
    docs.append(csvref.encode([[long_plain]], trailing=False))
    assert_batch(built, "long", docs)


def test_hypothesis_documents(
    built: native.Program, autolab_verdict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents Hypothesis generates, and shrinks when one disagrees with the reference. Each
    example and each shrinking step is a run of the program, so this search runs only for a
    submission that passed every test above (one that did not scores 0 already), and shrinking
    stops after SHRINK_SECONDS with the smallest failing batch found by then."""
    if autolab_verdict.failures:
        pytest.skip("not searched: the submission already failed a correctness test")
    if hasattr(hypothesis_engine, "MAX_SHRINKING_SECONDS"):  # Hypothesis's own cap is 300 s
        monkeypatch.setattr(hypothesis_engine, "MAX_SHRINKING_SECONDS", SHRINK_SECONDS)

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        report_multiple_bugs=False,  # shrink one failure, not every distinct one (each step is a run)
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @seed(built.submission.seed)
    @given(batch=st.lists(documents(), min_size=1, max_size=10))
    def agrees_with_the_reference(batch: list[bytes]) -> None:
        assert_batch(built, "hypothesis", batch)

    agrees_with_the_reference()


def test_instructions(built: native.Program, record_metric) -> None:
    """The metric: Callgrind's instruction count for one run on the benchmark document (drawn from
    the seed), whose output must be correct as well. The heap allocations made inside
    csv::aggregate are recorded with it (result.json's measurement), not scored."""
    doc, records = csvref.benchmark_document(built.submission.seed)
    assert len(doc) >= BENCH_MIN_BYTES
    built.submission.write_file("bench.csv", doc)
    counts = built.count("run bench.csv bench.out", timeout=600)
    got = built.submission.read_file("bench.out").decode("utf-8", errors="replace")
    want = csvref.format_stats(csvref.aggregate(records))
    assert got == want, f"benchmark ({len(doc)} bytes): {first_difference(got, want)}"
    floor = int(FLOOR_PER_BYTE * len(doc))
    assert counts.instructions >= floor, (
        f"{counts.instructions} instructions is implausibly few for a {len(doc)}-byte document "
        f"(floor {floor}): was work done outside the measured process?"
    )
    details = counts.details()
    heap = re.search(r"heap: (\d+) allocations, (\d+) bytes", counts.result.stderr)
    if heap:
        details["heap_allocations"], details["heap_bytes"] = int(heap.group(1)), int(heap.group(2))
    record_metric(counts.instructions, details=details)
