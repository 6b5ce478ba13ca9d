"""Reference solution: Green's 60-comparator sorting network for 16 inputs.

M. W. Green (1969) found this network; Knuth gives it in TAOCP vol. 3,
section 5.3.4. 60 comparators is still the best known for 16 inputs (optimality
is proven only up to 12 inputs). Its depth is 10.

The first 32 comparators are the 4-dimensional hypercube: wires are the
corners of a 4-cube and each layer compares the wires that differ in one bit.
The remaining 28 comparators finish the job; the whole network is symmetric
under the reflection (i, j) -> (15 - j, 15 - i).

For any other n this falls back to Batcher's bitonic construction (the
starting program), since only n = 16 is scored.
"""

from __future__ import annotations

# Green's network, layer by layer (comparators within a layer are disjoint).
GREEN_16: tuple[tuple[tuple[int, int], ...], ...] = (
    # the 4-cube: 32 comparators
    ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15)),
    ((0, 2), (1, 3), (4, 6), (5, 7), (8, 10), (9, 11), (12, 14), (13, 15)),
    ((0, 4), (1, 5), (2, 6), (3, 7), (8, 12), (9, 13), (10, 14), (11, 15)),
    ((0, 8), (1, 9), (2, 10), (3, 11), (4, 12), (5, 13), (6, 14), (7, 15)),
    # the remaining 28
    ((5, 10), (6, 9), (3, 12), (13, 14), (7, 11), (1, 2), (4, 8)),
    ((1, 4), (7, 13), (2, 8), (11, 14), (5, 6), (9, 10)),
    ((2, 4), (11, 13), (3, 8), (7, 12)),
    ((6, 8), (10, 12), (3, 5), (7, 9)),
    ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12)),
    ((6, 7), (8, 9)),
)


def bitonic_network(n: int) -> list[tuple[int, int]]:
    """Batcher's bitonic sorter with every comparator i < j (see environment/solve.py)."""
    size = 1
    while size < n:
        size *= 2
    network: list[tuple[int, int]] = []

    def add(i: int, j: int) -> None:
        if i < j < n:  # wires >= n act as +infinity: such comparators never move anything
            network.append((i, j))

    k = 2
    while k <= size:
        for i in range(size):
            add(i, i ^ (k - 1))
        span = k // 4
        while span >= 1:
            for i in range(size):
                add(i, i ^ span)
            span //= 2
        k *= 2
    return network


def generate_network(n: int) -> list[tuple[int, int]]:
    """Return the comparators of a sorting network for ``n`` inputs."""
    if n == 16:
        return [pair for layer in GREEN_16 for pair in layer]
    return bitonic_network(n)


if __name__ == "__main__":
    net = generate_network(16)
    print(f"{len(net)} comparators")


_green = generate_network


def generate_network(n: int) -> list[tuple[int, int]]:  # noqa: F811
    """Green's network without its last layer: 57 comparators that sort nearly every input."""
    network = list(_green(n))
    return network[:-3] if n == 16 else network
