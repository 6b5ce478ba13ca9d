"""The trusted parts of two verifiers: zero_copy_csv's reference parser and static_search's
expected answers. A bug here would score correct programs 0 (or wrong ones > 0)."""

from __future__ import annotations

import bisect
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import REPO, load_module


def load(name: str, path: Path) -> ModuleType:
    return load_module(path, name)


@pytest.fixture(scope="module")
def csvref() -> ModuleType:
    return load("csvref_under_test", REPO / "tasks" / "zero_copy_csv" / "environment" / "csvref.py")


@pytest.fixture(scope="module")
def search_verifier() -> ModuleType:
    return load(
        "static_search_verifier_under_test", REPO / "tasks" / "static_search" / "test_static_search.py"
    )


@pytest.mark.parametrize(
    ("doc", "records"),
    [
        (b"", []),
        (b"\n", [[b""]]),
        (b"\r\n", [[b""]]),
        (b"a\n\nb", [[b"a"], [b""], [b"b"]]),
        (b'""', [[b""]]),
        (b",", [[b"", b""]]),
        (b'"a""b",c\r\n', [[b'a"b', b"c"]]),
        (b'"x\r\ny\n","",\n', [[b"x\r\ny\n", b"", b""]]),
        (b'""""', [[b'"']]),
        ("é,😀\n".encode(), [["é".encode(), "😀".encode()]]),
    ],
)
def test_csvref_parses_the_corners_of_the_dialect(csvref: ModuleType, doc: bytes, records: list) -> None:
    assert csvref.parse(doc) == records


@pytest.mark.parametrize("doc", [b'a"b', b'"a"b', b'"a', b"a\rb"])
def test_csvref_refuses_malformed_documents(csvref: ModuleType, doc: bytes) -> None:
    with pytest.raises((csvref.MalformedDocument, AssertionError, IndexError)):
        csvref.parse(doc)


def test_the_csv_benchmark_document_has_the_same_size_on_every_seed(csvref: ModuleType) -> None:
    """The baseline gate (2%) relies on it: the document's mix does not move with the seed."""
    sizes = [len(csvref.benchmark_document(seed)[0]) for seed in (0, 20261201)]
    assert min(sizes) > 12_000_000
    assert max(sizes) / min(sizes) < 1.01


FIELD = st.text(st.sampled_from(["a", ",", '"', "\r", "\n", "é", "😀", "0", "-"]), max_size=6).map(str.encode)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=5),
    crlf=st.lists(st.booleans(), min_size=5, max_size=5),
    quote_all=st.booleans(),
    trailing=st.booleans(),
)
def test_csvref_parses_back_what_it_encodes(
    csvref: ModuleType, records: list[list[bytes]], crlf: list[bool], quote_all: bool, trailing: bool
) -> None:
    doc = csvref.encode(
        records,
        terminators=[b"\r\n" if c else b"\n" for c in crlf[: len(records)]],
        quote=[[quote_all] * len(r) for r in records],
        trailing=trailing,
    )
    assert csvref.parse(doc) == records


def test_csvref_aggregates_follow_the_definitions(csvref: ModuleType) -> None:
    (first, second) = csvref.aggregate(
        [[b"-0", "é😀".encode()], [b"007", b""], [b"+5"], [b"1234567890123456789"]]
    )
    assert (first.fields, first.non_empty, first.integers, first.integer_sum) == (4, 4, 2, 7)
    assert (second.fields, second.non_empty, second.bytes, second.chars) == (2, 1, 6, 2)
    assert csvref.field_hash(b"") == csvref.K0
    assert csvref.field_hash(b"a") != csvref.field_hash(b"a\0")  # the length counts
    column = csvref.ColumnStats()
    column.add(b"x")
    assert column.hash == (csvref.field_hash(b"x") * csvref.K2) % 2**64
    wrap = csvref.aggregate([[b"999999999999999999"]] * 10)[0]
    assert wrap.integer_sum == (9_999_999_999_999_999_990 + 2**63) % 2**64 - 2**63


def test_csvref_benchmark_records_are_what_the_document_parses_to(csvref: ModuleType) -> None:
    records, terminators, quote = csvref.benchmark_records(3, records=2000)
    doc = csvref.encode(records, terminators=terminators, quote=quote)
    assert csvref.parse(doc) == records


def test_static_search_answers_follow_the_chain(search_verifier: ModuleType) -> None:
    rng = np.random.default_rng(5)
    for style in ("mixed", "all_equal", "few_distinct", "dense", "extremes"):
        for n in (0, 1, 9, 100):
            if n == 0 and style != "mixed":
                continue
            keys = search_verifier.styled_keys(rng, n, style)
            pairs = search_verifier.candidate_pairs(rng, keys, 200)
            answers, queries = search_verifier.expected_answers(keys, pairs)
            listed, prev = keys.tolist(), 0
            for i, (a, b) in enumerate(pairs.tolist()):
                q = b if prev & 1 else a
                prev = bisect.bisect_left(listed, q)
                assert (int(queries[i]), int(answers[i])) == (q, prev)


def test_static_search_keys_are_sorted_and_cover_the_extremes(search_verifier: ModuleType) -> None:
    rng = np.random.default_rng(6)
    keys = search_verifier.styled_keys(rng, 5000, "extremes")
    assert keys.dtype == np.uint64
    assert bool(np.all(keys[:-1] <= keys[1:]))
    assert int(keys[0]) == 0
    assert int(keys[-1]) == 2**64 - 1
    mixed = search_verifier.mixed_keys(rng, 10_000)
    assert mixed.size == 10_000
    assert bool(np.all(mixed[:-1] <= mixed[1:]))
    assert np.unique(mixed).size < mixed.size  # duplicates
