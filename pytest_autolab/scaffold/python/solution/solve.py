"""The reference: prefix sums, then O(1) per query."""

from itertools import accumulate


def answer(a, queries):
    prefix = [0, *accumulate(a)]
    return [prefix[hi] - prefix[lo] for lo, hi in queries]
