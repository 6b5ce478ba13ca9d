"""Verifier of the lockfree_queue task.

The submitted queue/queue.go is built into the read-only harness (main.go), next to the
pristine baseline (bench-base: the same harness with the queue as shipped, written into
the sandbox from the task folder), and checked:

- rules: the package imports only sync, sync/atomic, runtime and math/bits (no unsafe,
  hence no go:linkname; no cgo, no os, no syscall) and never names GOMAXPROCS;
- the race detector, on small configurations drawn from the seed;
- every item delivered exactly once and per-producer FIFO, on configurations drawn from
  the seed (1 to 8 producers and consumers, capacities from 1 up);
- the metric: the benchmark timed against the baseline, interleaved (submission.timed);
  every timed run is checked like the others, with its own seed.

Items are encrypted by the harness with a key derived from the seed on its command line,
which the queue package cannot read (no os): it cannot make items up or recognise the
stop items. The harness reports a keyed checksum of the items each phase delivered; the
verifier recomputes the checksum of the items sent, here, from the seed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pytest

from pytest_autolab import ExecResult, Submission

#: What queue/queue.go may import: synchronisation and bit tricks, nothing that reaches the
#: process, the harness's memory (unsafe, go:linkname) or the clock.
ALLOWED_IMPORTS = frozenset({"sync", "sync/atomic", "runtime", "math/bits"})
#: Identifiers queue/queue.go may not use: the harness runs with GOMAXPROCS=2.
FORBIDDEN_WORDS = re.compile(r"\bGOMAXPROCS\b")

#: The benchmark's phases, as main.go's benchPhases: (P, C, N, capacity).
BENCH_PHASES = (
    (1, 1, 600_000, 1024),
    (4, 4, 500_000, 256),
    (8, 8, 250_000, 64),
    (16, 16, 120_000, 128),
    (2, 8, 600_000, 1024),
    (8, 2, 250_000, 64),
)
#: Rounds of the timed comparison (plus one warm-up pair).
ROUNDS = 12
#: The wall-clock speedup's interval must reach this: a queue may not buy CPU time with idling.
WALL_FLOOR = 0.8
#: Seconds one run may take before it counts as hung (the harness's own limit is per phase).
RUN_TIMEOUT_S = 90.0

SEQ_BITS = 40
MASK64 = (1 << 64) - 1


# --- the harness's keys and checksum, recomputed -----------------------------------------------


def _mix_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def check_key(seed: int) -> int:
    """The checksum key main.go derives from -seed (the fifth splitmix64 output)."""
    state = seed & MASK64
    for _ in range(5):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        value = _mix_int(state)
    return value


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def expected_sum(seed: int, producers: int, n: int) -> int:
    """The checksum of every item sent: sum of mix(item ^ key) over (p << 40 | s), mod 2^64."""
    key = np.uint64(check_key(seed))
    seqs = np.arange(n, dtype=np.uint64)
    total = 0
    for p in range(producers):
        items = seqs | np.uint64(p << SEQ_BITS)
        total += int(np.sum(_mix(items ^ key), dtype=np.uint64))
    return total & MASK64


def phase_spec(phases: Sequence[tuple[int, int, int, int]]) -> str:
    return ",".join(f"{p}:{c}:{n}:{cap}" for p, c, n, cap in phases)


def check_output(
    out: ExecResult,
    seed: int,
    phases: Sequence[tuple[int, int, int, int]],
    what: str,
    sums: dict[tuple[int, int, int], int] | None = None,
) -> None:
    """Every phase delivered each item exactly once (checksum), in per-producer order."""
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == len(phases), (
        f"{what}: expected {len(phases)} phase reports, got {len(lines)}:\n{out.output[-1500:]}"
    )
    for index, ((p, c, n, cap), line) in enumerate(zip(phases, lines, strict=True)):
        report = json.loads(line)
        where = f"{what}, phase {index} (P={p} C={c} N={n} capacity={cap})"
        assert (report["p"], report["c"], report["n"], report["cap"]) == (p, c, n, cap), f"{where}: {line}"
        assert report["invalid"] == 0, (
            f"{where}: {report['invalid']} items that no producer put were received"
        )
        assert report["received"] == p * n, (
            f"{where}: {report['received']} items received, {p * n} put (items lost or duplicated)"
        )
        assert report["order_errors"] == 0, (
            f"{where}: {report['order_errors']} items reached a consumer after a later item of the "
            "same producer (per-producer FIFO order broken)"
        )
        key = (seed, p, n)
        expected = sums.get(key) if sums is not None else None
        if expected is None:
            expected = expected_sum(seed, p, n)
            if sums is not None:
                sums[key] = expected
        assert int(report["sum"], 16) == expected, (
            f"{where}: the checksum of the received items differs from that of the items put "
            "(an item was delivered twice and another never)"
        )


def seeds_for(seed: int, tag: int, count: int) -> list[int]:
    rng = np.random.default_rng([seed, tag])
    return [int(x) for x in rng.integers(1, 2**63, size=count, dtype=np.uint64)]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build(submission: Submission, autolab_task) -> ExecResult:
    """The pristine baseline from the task folder, then `make` (bench and bench-base)."""
    pristine = (autolab_task.environment_dir / "queue" / "queue.go").read_bytes()
    submission.write_file("baseline/queue.go", pristine)
    return submission.exec("make 2>&1", timeout=300)


@pytest.fixture
def built(build: ExecResult, submission: Submission) -> Submission:
    if not build.ok:
        pytest.fail("the program does not build (see test_builds)")
    return submission


# --- tests (the metric test comes last) ----------------------------------------------------------


def test_builds(build: ExecResult) -> None:
    assert build.ok, f"make failed: {build.describe()}\n{build.output[-4000:]}"


def test_follows_the_rules(built: Submission) -> None:
    listing = built.exec(
        'GOPROXY=off go list -f \'{{join .Imports " "}}|{{len .CgoFiles}}|{{join .GoFiles " "}}\' ./queue',
        timeout=120,
    )
    assert listing.ok, f"go list ./queue failed: {listing.describe()}\n{listing.output[-2000:]}"
    imports_field, cgo, files = listing.stdout.strip().split("|")
    problems = []
    extra = sorted(set(imports_field.split()) - ALLOWED_IMPORTS)
    if extra:
        problems.append(f"imports {', '.join(extra)} (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
    if cgo != "0":
        problems.append("uses cgo")
    if files.split() != ["queue.go"]:
        problems.append(f"the package's files are {files!r}, expected queue.go alone")
    source = built.read_file("queue/queue.go").decode("utf-8", "replace")
    if FORBIDDEN_WORDS.search(source):
        problems.append("names GOMAXPROCS (the harness fixes it at 2)")
    assert not problems, "queue/queue.go breaks the rules: " + "; ".join(problems)


def test_race_detector_is_clean(built: Submission) -> None:
    """bench built with -race, on small configurations from the seed: no data race, and correct."""
    race_build = built.exec("make bench-race 2>&1", timeout=300)
    assert race_build.ok, f"make bench-race failed: {race_build.describe()}\n{race_build.output[-3000:]}"
    rng = np.random.default_rng([built.seed, 1])
    phases = [
        (int(rng.integers(2, 5)), int(rng.integers(2, 5)), 3000, int(rng.choice([1, 2, 7, 33])))
        for _ in range(3)
    ]
    seed = seeds_for(built.seed, 2, 1)[0]
    out = built.exec(
        f"GORACE='halt_on_error=1 exitcode=66' ./bench-race -phases {phase_spec(phases)} -seed {seed} -limit 30",
        timeout=180,
    )
    assert out.exit_code != 66, f"the race detector found a data race:\n{out.stderr[-4000:]}"
    assert out.ok, f"bench-race failed: {out.describe()}\n{out.output[-3000:]}"
    check_output(out, seed, phases, "race-detector run")


def _configurations(seed: int) -> list[tuple[int, int, int, int]]:
    """Edge cases (capacity 1, one side alone, many on both) plus random ones from the seed."""
    rng = np.random.default_rng([seed, 3])
    fixed = [(8, 8, 20_000, 1), (1, 8, 60_000, 2), (8, 1, 20_000, 3), (3, 5, 30_000, 1000)]
    drawn = [
        (
            int(rng.integers(1, 9)),
            int(rng.integers(1, 9)),
            int(rng.integers(5_000, 60_000)),
            int(rng.choice([1, 2, 5, 16, 100, 4096])),
        )
        for _ in range(8)
    ]
    return fixed + drawn


def test_delivers_every_item_once_in_order(built: Submission) -> None:
    phases = _configurations(built.seed)
    seed = seeds_for(built.seed, 4, 1)[0]
    out = built.exec(f"./bench -phases {phase_spec(phases)} -seed {seed} -limit 20", timeout=RUN_TIMEOUT_S)
    assert out.exit_code != 3, f"a phase did not finish (deadlock or lost items):\n{out.stderr[-2000:]}"
    assert out.ok, f"./bench failed: {out.describe()}\n{out.output[-3000:]}"
    check_output(out, seed, phases, "correctness run")


def test_speedup(built: Submission, record_metric) -> None:
    """The metric: the benchmark's CPU time (user + system, every thread), baseline over
    submission, in interleaved rounds, each round with its own seed and every run's output
    checked. The wall-clock speedup is recorded too and must not be far below 1."""
    seeds = seeds_for(built.seed, 5, ROUNDS + 1)
    sums: dict[tuple[int, int, int], int] = {}

    def command(binary: str):
        return lambda round_index: f"./{binary} -bench -seed {seeds[round_index + 1]} -limit 30"

    def check(out: ExecResult, round_index: int, who: str) -> None:
        check_output(
            out, seeds[round_index + 1], BENCH_PHASES, f"timed run of the {who}, round {round_index}", sums
        )

    timing = built.timed(
        command("bench"),
        command("bench-base"),
        rounds=ROUNDS,
        warmup=1,
        clock="cpu",
        check=check,
        timeout=RUN_TIMEOUT_S,
    )
    wall = timing.with_clock("wall")
    print(timing.describe())
    print(wall.describe())
    details = timing.to_json()
    details["wall"] = {"speedup": wall.speedup, "low": wall.low, "high": wall.high}
    assert wall.high >= WALL_FLOOR, (
        f"the benchmark's wall time is {1 / wall.speedup:.2f}x the baseline's (interval of the wall-clock "
        f"speedup [{wall.low:.3f}, {wall.high:.3f}]): the queue saves CPU time by leaving the "
        "processors idle, which the metric does not reward"
    )
    record_metric(timing.score, details=details)
