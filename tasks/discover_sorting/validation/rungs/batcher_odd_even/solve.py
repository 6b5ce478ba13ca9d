"""A sorting network for n inputs. This is the file you improve.

``generate_network(n)`` returns a list of comparators ``(i, j)`` with
``0 <= i < j < n``. Applied in order, a comparator looks at the values on
wires ``i`` and ``j`` and puts the smaller one on wire ``i`` and the larger one
on wire ``j``. The network is correct when, for every input, the values end up
in ascending order from wire 0 to wire n - 1.

Only ``n = 16`` is scored; the score is the number of comparators (fewer is
better).

As shipped this builds Batcher's bitonic sorting network: 80 comparators for
16 inputs, in 10 layers of 8.
"""

from __future__ import annotations


def bitonic_network(n: int) -> list[tuple[int, int]]:
    """Batcher's bitonic sorter, in the form where every comparator has i < j.

    The wires are padded up to a power of two ``size``. Stage ``k`` (k = 2, 4,
    ..., size) merges sorted runs of length k/2 into sorted runs of length k:
    it first compares each wire of a block of k wires with its mirror image in
    that block (i with i XOR (k - 1)). Afterwards every value in the lower half
    of the block is <= every value in the upper half, and each half is
    bitonic; half-cleaners of span k/4, k/8, ..., 1 then sort each half.

    Padding wires (index >= n) behave as if they held +infinity: a comparator
    (i, j) with j >= n never moves anything, so it is simply left out. That
    makes the construction correct for any n, not just powers of two.
    """
    size = 1
    while size < n:
        size *= 2

    network: list[tuple[int, int]] = []

    def add(i: int, j: int) -> None:
        if i < j < n:
            network.append((i, j))

    k = 2
    while k <= size:
        for i in range(size):
            add(i, i ^ (k - 1))  # mirror comparators across each block of k
        span = k // 4
        while span >= 1:
            for i in range(size):
                add(i, i ^ span)  # half-cleaner of this span
            span //= 2
        k *= 2
    return network




def odd_even_merge(lo: int, hi: int, r: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge of the two sorted halves of wires lo..hi (inclusive) at stride r."""
    step = r * 2
    if step < hi - lo:
        return (
            odd_even_merge(lo, hi, step)
            + odd_even_merge(lo + r, hi, step)
            + [(i, i + r) for i in range(lo + r, hi - r, step)]
        )
    return [(lo, lo + r)]


def odd_even_merge_sort(lo: int, hi: int) -> list[tuple[int, int]]:
    if hi - lo < 1:
        return []
    mid = lo + (hi - lo) // 2
    return odd_even_merge_sort(lo, mid) + odd_even_merge_sort(mid + 1, hi) + odd_even_merge(lo, hi, 1)


def generate_network(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort: 63 comparators for 16 inputs."""
    if n != 16:
        return bitonic_network(n)
    return odd_even_merge_sort(0, 15)


if __name__ == "__main__":
    net = generate_network(16)
    print(f"{len(net)} comparators")
