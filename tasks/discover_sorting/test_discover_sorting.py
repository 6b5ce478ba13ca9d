"""Verifier for discover_sorting: a 16-input sorting network, scored by size.

The agent's ``solve.py`` runs only inside the sandbox: a small driver calls
``generate_network(16)`` there and prints the network as JSON. Everything after
that happens here, in the trusted pytest process: strict parsing and
validation, an exhaustive check of all 2**16 binary inputs (by the 0-1
principle that proves the network sorts every input), a property-based check
with arbitrary integers, a determinism check, and finally the metric, the
number of comparators.
"""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

N = 16
MAX_COMPARATORS = 1000
#: Wall-clock limit of one run of the driver (interpreter start-up included).
TIME_LIMIT_S = 10.0

#: Runs in the sandbox. The agent's prints go to stderr so that stdout carries
#: nothing but the JSON document.
DRIVER = """\
import json, sys
out = sys.stdout
sys.stdout = sys.stderr
import solve
network = solve.generate_network(16)
out.write(json.dumps(network))
out.flush()
"""

Network = list[tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Extraction:
    """One run of generate_network(16) in the sandbox and what came of it."""

    network: Network | None
    error: str | None


def extract(submission, hash_seed: int) -> Extraction:
    """Run generate_network(16) in the sandbox and parse its result strictly."""
    command = f"PYTHONHASHSEED={hash_seed} python3 -c {shlex.quote(DRIVER)}"
    result = submission.exec(command, timeout=TIME_LIMIT_S)
    if result.timed_out:
        return Extraction(None, f"generate_network(16) did not return within {TIME_LIMIT_S:.0f} s")
    if not result.ok:
        return Extraction(
            None, f"running generate_network(16) failed ({result.describe()}):\n{result.output[-3000:]}"
        )
    try:
        document = json.loads(result.stdout)
    except ValueError as exc:
        return Extraction(None, f"generate_network(16) did not return JSON-serialisable data: {exc}")
    try:
        return Extraction(parse_network(document), None)
    except ValueError as exc:
        return Extraction(None, str(exc))


def parse_network(document: object) -> Network:
    """Validate a decoded JSON document as a network for N wires; raise ValueError."""
    if not isinstance(document, list):
        raise ValueError(f"generate_network(16) must return a list, got {type(document).__name__}")
    if len(document) > MAX_COMPARATORS:
        raise ValueError(f"{len(document)} comparators: at most {MAX_COMPARATORS} are accepted")
    network: Network = []
    for k, pair in enumerate(document):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"comparator #{k} is {pair!r}: expected a pair (i, j)")
        i, j = pair
        # bool is a subclass of int, and JSON true/false must not pass as wires 1/0
        if type(i) is not int or type(j) is not int:
            raise ValueError(f"comparator #{k} is {pair!r}: i and j must be ints")
        if not 0 <= i < j < N:
            raise ValueError(f"comparator #{k} is ({i}, {j}): need 0 <= i < j < {N}")
        network.append((i, j))
    return network


def apply_network(network: Network, values: list[int]) -> list[int]:
    """Run the network on one input: each comparator puts the smaller value on wire i."""
    out = list(values)
    for i, j in network:
        if out[i] > out[j]:
            out[i], out[j] = out[j], out[i]
    return out


@pytest.fixture(scope="module")
def first_run(submission) -> Extraction:
    return extract(submission, hash_seed=0)


@pytest.fixture(scope="module")
def network(first_run: Extraction) -> Network:
    if first_run.network is None:
        pytest.fail(f"no valid network: {first_run.error}", pytrace=False)
    return first_run.network


def test_network_is_well_formed(first_run: Extraction) -> None:
    if first_run.error is not None:
        pytest.fail(first_run.error, pytrace=False)
    assert first_run.network is not None


def test_network_is_deterministic(submission, network: Network) -> None:
    second = extract(submission, hash_seed=1)
    if second.error is not None:
        pytest.fail(f"second run of generate_network(16): {second.error}", pytrace=False)
    assert second.network == network, (
        "generate_network(16) returned a different network on a second run "
        f"({len(network)} vs {len(second.network or [])} comparators); it must be deterministic"
    )


def test_sorts_all_binary_inputs(network: Network) -> None:
    # wires[w, m] is the value on wire w for input m, where input m has bit w of m on wire w.
    inputs = np.arange(1 << N, dtype=np.uint32)
    wires = ((inputs[None, :] >> np.arange(N, dtype=np.uint32)[:, None]) & 1).astype(np.uint8)
    for i, j in network:
        low = np.minimum(wires[i], wires[j])
        np.maximum(wires[i], wires[j], out=wires[j])
        wires[i] = low
    unsorted = np.any(wires[:-1] > wires[1:], axis=0)
    failures = int(np.count_nonzero(unsorted))
    if failures:
        m = int(np.flatnonzero(unsorted)[0])
        values = [(m >> w) & 1 for w in range(N)]
        pytest.fail(
            f"the network leaves {failures} of {1 << N} binary inputs unsorted, e.g.\n"
            f"  input  (wire 0 first): {values}\n"
            f"  output (wire 0 first): {apply_network(network, values)}",
            pytrace=False,
        )


def sixteen(elements: st.SearchStrategy[int]) -> st.SearchStrategy[list[int]]:
    return st.lists(elements, min_size=N, max_size=N)


#: Inputs of every flavour: unbounded integers (Hypothesis mixes in huge ones),
#: values far beyond 64 bits, heavy duplication, distinct keys, and 0/1.
INPUTS = st.one_of(
    sixteen(st.integers()),
    sixteen(st.integers(min_value=-(2**70), max_value=2**70)),
    sixteen(st.integers(min_value=-2, max_value=2)),
    st.permutations(range(N)),
    sixteen(st.integers(min_value=0, max_value=1)),
)


def test_sorts_arbitrary_integers(submission, network: Network) -> None:
    # Trusted-side property test; the sandbox never sees the seed.
    @seed(submission.seed)
    @settings(
        max_examples=1000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(values=INPUTS)
    @example(values=list(range(N - 1, -1, -1)))
    @example(values=[2**70, -(2**70)] * (N // 2))
    def sorts(values: list[int]) -> None:
        assert apply_network(network, values) == sorted(values)

    sorts()


def test_comparator_count(network: Network, record_metric) -> None:
    record_metric(len(network))
