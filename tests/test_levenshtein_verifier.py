"""The levenshtein verifier's trusted parts: its bit-parallel distance and its benchmark set."""

from __future__ import annotations

from types import ModuleType

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import REPO, load_module


def load_verifier() -> ModuleType:
    path = REPO / "tasks" / "levenshtein" / "test_levenshtein.py"
    return load_module(path, "levenshtein_verifier")


verifier = load_verifier()


def textbook(a: bytes, b: bytes) -> int:
    """The dynamic programme, two rows at a time."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(prev + (ca != cb), row[j] + 1, row[j - 1] + 1)
    return row[-1]


def strings(alphabet: bytes, max_size: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map(bytes)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([b"a", b"ab", b"\x00\xff\x80", bytes(range(256))]).flatmap(
    lambda alphabet: st.tuples(strings(alphabet, 80), strings(alphabet, 80))))  # fmt: skip
def test_bit_parallel_distance_matches_the_textbook_programme(pair: tuple[bytes, bytes]) -> None:
    a, b = pair
    assert verifier.levenshtein(a, b) == textbook(a, b)


def test_bit_parallel_distance_matches_on_patterns_of_several_words() -> None:
    rng = np.random.default_rng(1)
    for length in (63, 64, 65, 128, 200, 300):
        a = bytes(rng.integers(0, 3, length).astype(np.uint8))
        b = bytes(rng.integers(0, 3, int(rng.integers(length - 20, length + 20))).astype(np.uint8))
        assert verifier.levenshtein(a, b) == textbook(a, b)
        assert verifier.levenshtein(a, a[7:] + a[:7]) == textbook(a, a[7:] + a[:7])


def test_benchmark_set_depends_only_on_the_seed_and_keeps_its_size() -> None:
    first, again, other = verifier.bench_pairs(5), verifier.bench_pairs(5), verifier.bench_pairs(6)
    assert first == again
    assert first != other
    assert len(first) == sum(count for count, _, _ in verifier.BENCH_GROUPS)
    assert max(max(len(a), len(b)) for a, b in first) <= verifier.MAX_LEN


def test_encoded_pairs_point_at_their_strings() -> None:
    pairs = [(b"kitten", b"sitting"), (b"", b"x"), (b"sitting", b"kit")]
    blob = verifier.encode(pairs, share=True)
    npairs, text_len = np.frombuffer(blob[:8], dtype="<i4")
    records = np.frombuffer(blob[8 : 8 + 16 * npairs], dtype="<u4").reshape(npairs, 4)
    text = blob[8 + 16 * npairs :]
    assert len(text) == text_len
    for (a, b), (a_off, a_len, b_off, b_len) in zip(pairs, records.tolist(), strict=True):
        assert (text[a_off : a_off + a_len], text[b_off : b_off + b_len]) == (a, b)
