"""The trusted checks of the radix_sort and hash_join verifiers, against slow obvious versions.

The verifiers compute the expected join with numpy (a vectorised expansion of every matching
pair) and compare sorted arrays with a diagnosis of what went wrong; a mistake there would pass
wrong programs or fail right ones, so both are checked here on small inputs.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

from .conftest import REPO, load_module

MASK = (1 << 64) - 1


def load_verifier(task: str) -> ModuleType:
    path = REPO / "tasks" / task / f"test_{task}.py"
    return load_module(path, f"verifier_{task}")


def pair_hash_of_join_h(r_payload: int, s_payload: int) -> int:
    """join.h's pair_hash, in Python integers."""
    x = (r_payload + s_payload * 0x9E3779B97F4A7C15) & MASK
    x ^= x >> 32
    x = (x * 0xD6E8FEB86659FD93) & MASK
    return x ^ (x >> 32)


def nested_loop_join(rel: Any) -> tuple[int, int, int]:
    matches = payload_sum = checksum = 0
    for rk, rp in zip(rel.r_keys.tolist(), rel.r_payloads.tolist(), strict=True):
        for sk, sp in zip(rel.s_keys.tolist(), rel.s_payloads.tolist(), strict=True):
            if rk == sk:
                matches += 1
                payload_sum = (payload_sum + rp + sp) & MASK
                checksum = (checksum + pair_hash_of_join_h(rp, sp)) & MASK
    return matches, payload_sum, checksum


@pytest.mark.parametrize("seed", range(5))
def test_join_expected_result_equals_a_nested_loop_join(seed: int) -> None:
    hj = load_verifier("hash_join")
    rng = np.random.default_rng(seed)
    values = np.array([0, (1 << 64) - 1, 5, 1 << 63, 123456789], dtype=np.uint64)
    rel = hj.with_payloads(rng, values[rng.integers(0, 5, 60)], values[rng.integers(0, 4, 90)])
    rel.r_payloads[:3] = (1 << 64) - 1  # sums that wrap around
    assert hj.expected_result(rel) == nested_loop_join(rel)


def test_join_benchmark_distribution_is_seeded_and_joins_like_a_nested_loop() -> None:
    hj = load_verifier("hash_join")
    first = hj.benchmark_relations(hj.rng_for(3, 7), 300, 500)
    again = hj.benchmark_relations(hj.rng_for(3, 7), 300, 500)
    assert (first.nr, first.ns) == (300, 500)
    assert np.array_equal(first.s_keys, again.s_keys)
    assert np.array_equal(first.r_payloads, again.r_payloads)
    matches = hj.expected_result(first)
    assert matches == nested_loop_join(first)
    assert 0 < matches[0] < 2 * first.ns


def test_join_encoding_is_the_harness_layout() -> None:
    hj = load_verifier("hash_join")
    rel = hj.with_payloads(np.random.default_rng(1), np.array([7, 8], np.uint64), np.array([9], np.uint64))
    raw = np.frombuffer(hj.encode(rel), dtype="<u8")
    assert raw.tolist() == [
        2,
        1,
        7,
        int(rel.r_payloads[0]),
        8,
        int(rel.r_payloads[1]),
        9,
        int(rel.s_payloads[0]),
    ]


def test_sort_check_accepts_only_the_sorted_multiset() -> None:
    rs = load_verifier("radix_sort")
    keys = np.array([5, 1, (1 << 64) - 1, 1, 0], dtype=np.uint64)
    rs.assert_sorted_copy(np.array([0, 1, 1, 5, (1 << 64) - 1], dtype=np.uint64), keys, "ok")
    with pytest.raises(pytest.fail.Exception, match="not the same keys"):
        rs.assert_sorted_copy(np.array([0, 1, 5, 5, (1 << 64) - 1], dtype=np.uint64), keys, "lost a key")
    with pytest.raises(pytest.fail.Exception, match="not sorted"):
        rs.assert_sorted_copy(np.array([0, 1, 5, 1, (1 << 64) - 1], dtype=np.uint64), keys, "unsorted")
    with pytest.raises(AssertionError, match="4 keys came back"):
        rs.assert_sorted_copy(np.array([0, 1, 1, 5], dtype=np.uint64), keys, "short")


def test_sort_benchmark_distribution_has_each_family_in_its_exact_share() -> None:
    rs = load_verifier("radix_sort")
    keys = rs.mixed_keys(rs.rng_for(0, 7), 100_000)
    assert keys.dtype == np.uint64
    assert keys.size == 100_000
    assert np.array_equal(keys, rs.mixed_keys(rs.rng_for(0, 7), 100_000))
    narrow = int(np.count_nonzero(keys < np.uint64(1 << 32)))
    assert 15_000 <= narrow < 30_000  # the narrow family, plus runs that start small
