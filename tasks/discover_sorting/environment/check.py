"""Check solve.py locally: ``python3 check.py``.

Prints the comparator count (your score: lower is better) and proves the
network sorts by the 0-1 principle: a comparator network sorts every input
if and only if it sorts all 2**16 inputs made of 0s and 1s. All 65,536 binary
inputs are checked at once, bit-sliced: wire w is one 65,536-bit integer whose
bit m is the value on wire w for input number m, so a comparator is one AND
(the minimum) and one OR (the maximum).

This mirrors what the verifier checks, but the verifier does not run this
file: it runs your generate_network(16) in a fresh process, twice, and checks
the result on its own side (exhaustive binary check, plus property-based tests
with arbitrary integers). This file is read-only; editing it changes nothing.
"""

from __future__ import annotations

import sys
import time

import solve

N = 16
MAX_COMPARATORS = 1000
TIME_LIMIT_S = 10.0


def problems_with(network: object) -> list[str]:
    """What makes ``network`` unacceptable, as messages (empty if well formed)."""
    if not isinstance(network, (list, tuple)):
        return [f"generate_network must return a list, got {type(network).__name__}"]
    errors = []
    if len(network) > MAX_COMPARATORS:
        errors.append(f"{len(network)} comparators: at most {MAX_COMPARATORS} are accepted")
    for k, pair in enumerate(network):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            errors.append(f"comparator #{k} is {pair!r}: expected a pair (i, j)")
        elif not all(type(x) is int for x in pair):
            errors.append(f"comparator #{k} is {pair!r}: i and j must be plain ints")
        elif not 0 <= pair[0] < pair[1] < N:
            errors.append(f"comparator #{k} is {tuple(pair)!r}: need 0 <= i < j < {N}")
        if len(errors) >= 5:
            errors.append("...")
            break
    return errors


def first_unsorted_input(network: list[tuple[int, int]]) -> int | None:
    """The lowest binary input (as a 16-bit number) the network fails to sort, or None."""
    all_inputs = 1 << N
    # Bit m of column[w] is bit w of m: the value on wire w for input m.
    column = []
    for w in range(N):
        block = (1 << (1 << w)) - 1  # 2**w ones: the inputs where bit w is 1 come in runs
        pattern = 0
        for start in range(1 << w, all_inputs, 2 << w):
            pattern |= block << start
        column.append(pattern)
    for i, j in network:
        column[i], column[j] = column[i] & column[j], column[i] | column[j]
    # Sorted means wire w <= wire w + 1 for every input: no input has 1 then 0.
    bad = 0
    for w in range(N - 1):
        bad |= column[w] & ~column[w + 1]
    if not bad:
        return None
    return (bad & -bad).bit_length() - 1


def main() -> int:
    start = time.perf_counter()
    network = solve.generate_network(N)
    elapsed = time.perf_counter() - start
    print(f"generate_network({N}) returned in {elapsed:.3f} s (limit {TIME_LIMIT_S:.0f} s)")
    if elapsed > TIME_LIMIT_S:
        print("FAIL: too slow; the verifier would stop it")
        return 1

    errors = problems_with(network)
    if errors:
        print("FAIL: the network is not well formed:")
        for line in errors:
            print("  " + line)
        return 1
    network = [(int(i), int(j)) for i, j in network]
    print(f"comparators: {len(network)}")

    again = [tuple(pair) for pair in solve.generate_network(N)]
    if again != network:
        print("FAIL: a second call returned a different network; it must be deterministic")
        return 1

    bad = first_unsorted_input(network)
    if bad is not None:
        values = [(bad >> w) & 1 for w in range(N)]
        out = list(values)
        for i, j in network:
            if out[i] > out[j]:
                out[i], out[j] = out[j], out[i]
        print("FAIL: the network does not sort every input, e.g.")
        print(f"  input  (wire 0 first): {values}")
        print(f"  output (wire 0 first): {out}")
        return 1

    print(f"OK: sorts all {1 << N} binary inputs, hence every input (0-1 principle)")
    print(f"score: {len(network)} comparators (baseline 80)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
