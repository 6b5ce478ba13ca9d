"""Verifier of the group_commit task.

The submitted wal/wal.go is built into the read-only harness (main.go, disk/disk.go),
next to the pristine baseline (bench-base: the same harness with the log as shipped,
written into the sandbox from the task folder), and checked:

- rules: the package imports only synchronisation, time, encoding and the harness's
  disk package (no os, syscall, unsafe or cgo: the log file is reachable only through
  disk.File, whose Sync is the only way to make bytes durable);
- the race detector, on a small configuration drawn from the seed;
- durability and integrity, on configurations drawn from the seed: disk.File reports
  every frame as a flush makes it durable, and the harness counts every Append that
  returned before its record was durable; the verifier then reads the log file and
  checks every frame (CRC, payload regenerated from the seed, each record exactly once,
  each client's records in order);
- the metric: the benchmark timed against the baseline, wall clock, interleaved
  (submission.timed); every timed run is checked like the others, with its own seed.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from pytest_autolab import ExecResult, Submission

#: What wal/wal.go may import.
ALLOWED_IMPORTS = frozenset(
    {
        "sync",
        "sync/atomic",
        "runtime",
        "time",
        "errors",
        "math/bits",
        "encoding/binary",
        "hash/crc32",
        "groupcommit/disk",
    }
)
#: The benchmark: 16 clients, 20 records each (main.go's benchClients, benchRecords).
BENCH = (16, 20)
#: Rounds of the timed comparison (plus one warm-up pair).
ROUNDS = 10
RUN_TIMEOUT_S = 120.0

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
REPORT_ZEROES = ("not_durable_at_ack", "duplicates", "order_errors", "foreign", "append_errors")


# --- the harness's records, recomputed -----------------------------------------------------------


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def payload(seed: int, record_id: int) -> bytes:
    """main.go's payload(seed, id): the id, then 8 to 248 bytes drawn from the seed and the id."""
    state = seed ^ _mix(record_id)

    def draw() -> int:
        nonlocal state
        state = (state + GOLDEN) & MASK64
        return _mix(state)

    n = 16 + draw() % 241
    out = bytearray(record_id.to_bytes(8, "little"))
    while len(out) < n:
        out += draw().to_bytes(8, "little")
    return bytes(out[:n])


def check_log(data: bytes, seed: int, clients: int, records: int, what: str) -> None:
    """Every record exactly once, intact, each client's in order; nothing else in the file."""
    seen: set[int] = set()
    last = [-1] * clients
    offset = 0
    while offset < len(data):
        assert offset + 8 <= len(data), (
            f"{what}: the log ends in the middle of a frame header (offset {offset})"
        )
        length, crc = struct.unpack_from("<II", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        assert len(body) == length, f"{what}: the log ends in the middle of a frame (offset {offset})"
        assert zlib.crc32(body) == crc, f"{what}: the frame at offset {offset} has a wrong CRC"
        assert length >= 8, f"{what}: the frame at offset {offset} is too short to be a record"
        record_id = int.from_bytes(body[:8], "little")
        client, seq = record_id >> 32, record_id & 0xFFFFFFFF
        ours = client < clients and seq < records and body == payload(seed, record_id)
        assert ours, f"{what}: the frame at offset {offset} is not a record of this run"
        assert record_id not in seen, f"{what}: record {seq} of client {client} is in the log twice"
        assert seq > last[client], (
            f"{what}: record {seq} of client {client} comes after its record {last[client]} in the log"
        )
        seen.add(record_id)
        last[client] = seq
        offset += 8 + length
    assert len(seen) == clients * records, (
        f"{what}: the log holds {len(seen)} records, {clients * records} were appended"
    )


def check_run(
    submission: Submission, out: ExecResult, log_path: str, seed: int, clients: int, records: int, what: str
) -> dict:
    assert out.exit_code != 3, f"{what}: the run hung (an Append never returned):\n{out.stderr[-2000:]}"
    assert out.ok, f"{what}: ./bench failed: {out.describe()}\n{out.output[-3000:]}"
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"{what}: expected one report line:\n{out.output[-1500:]}"
    report = json.loads(lines[0])
    expected = clients * records
    assert report["framing"] == "", (
        f"{what}: the durable log is not a sequence of frames: {report['framing']}"
    )
    for key in REPORT_ZEROES:
        assert report[key] == 0, {
            "not_durable_at_ack": f"{what}: {report[key]} Appends returned before their record was durable "
            "(no Sync that began after the record was written had returned)",
            "duplicates": f"{what}: {report[key]} records were made durable twice",
            "order_errors": f"{what}: {report[key]} records reached the log before an earlier record of their client",
            "foreign": f"{what}: {report[key]} frames in the log are no record of this run",
            "append_errors": f"{what}: {report[key]} Appends (or Close) returned an error",
        }[key]
    assert (report["appended"], report["durable"]) == (expected, expected), (
        f"{what}: {report['appended']} Appends returned and {report['durable']} records are durable, "
        f"expected {expected}"
    )
    check_log(submission.read_file(log_path), seed, clients, records, what)
    submission.exec(f"rm -f {log_path}", timeout=30)
    return report


def seeds_for(seed: int, tag: int, count: int) -> list[int]:
    rng = np.random.default_rng([seed, tag])
    return [int(x) for x in rng.integers(1, 2**63, size=count, dtype=np.uint64)]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build(submission: Submission, autolab_task) -> ExecResult:
    """The pristine baseline from the task folder, then `make` (bench and bench-base)."""
    pristine = (autolab_task.environment_dir / "wal" / "wal.go").read_bytes()
    submission.write_file("baseline/wal.go", pristine)
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
        'GOPROXY=off go list -f \'{{join .Imports " "}}|{{len .CgoFiles}}|{{join .GoFiles " "}}\' ./wal',
        timeout=120,
    )
    assert listing.ok, f"go list ./wal failed: {listing.describe()}\n{listing.output[-2000:]}"
    imports_field, cgo, files = listing.stdout.strip().split("|")
    problems = []
    extra = sorted(set(imports_field.split()) - ALLOWED_IMPORTS)
    if extra:
        problems.append(f"imports {', '.join(extra)} (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
    if cgo != "0":
        problems.append("uses cgo")
    if files.split() != ["wal.go"]:
        problems.append(f"the package's files are {files!r}, expected wal.go alone")
    assert not problems, "wal/wal.go breaks the rules: " + "; ".join(problems)


def test_race_detector_is_clean(built: Submission) -> None:
    race_build = built.exec("make bench-race 2>&1", timeout=300)
    assert race_build.ok, f"make bench-race failed: {race_build.describe()}\n{race_build.output[-3000:]}"
    rng = np.random.default_rng([built.seed, 1])
    clients, records = int(rng.integers(3, 9)), int(rng.integers(5, 15))
    seed = seeds_for(built.seed, 2, 1)[0]
    out = built.exec(
        f"GORACE='halt_on_error=1 exitcode=66' ./bench-race -log race.log -seed {seed} "
        f"-clients {clients} -records {records} -limit 30",
        timeout=180,
    )
    assert out.exit_code != 66, f"the race detector found a data race:\n{out.stderr[-4000:]}"
    check_run(built, out, "race.log", seed, clients, records, "race-detector run")


def _configurations(seed: int) -> list[tuple[int, int]]:
    """One client alone, a crowd, and clients and record counts drawn from the seed."""
    rng = np.random.default_rng([seed, 3])
    drawn = [(int(rng.integers(2, 24)), int(rng.integers(3, 20))) for _ in range(3)]
    return [(1, 30), (48, 4), *drawn]


def test_every_acknowledged_record_is_durable_and_intact(built: Submission) -> None:
    seeds = seeds_for(built.seed, 4, 5)
    for (clients, records), seed in zip(_configurations(built.seed), seeds, strict=True):
        out = built.exec(
            f"./bench -log check.log -seed {seed} -clients {clients} -records {records} -limit 30",
            timeout=RUN_TIMEOUT_S,
        )
        check_run(built, out, "check.log", seed, clients, records, f"{clients} clients x {records} records")


def test_speedup(built: Submission, record_metric) -> None:
    """The metric: the benchmark's wall time, baseline over submission, in interleaved rounds,
    each round with its own seed and every run's report and log file checked."""
    seeds = seeds_for(built.seed, 5, ROUNDS + 1)
    binaries = {"submission": "bench", "baseline": "bench-base"}

    def command(binary: str):
        return lambda r: f"./{binary} -log {binary}.log -seed {seeds[r + 1]} -bench -limit 100"

    def check(out: ExecResult, round_index: int, who: str) -> None:
        binary = binaries[who]
        check_run(
            built,
            out,
            f"{binary}.log",
            seeds[round_index + 1],
            *BENCH,
            f"timed run of the {who}, round {round_index}",
        )

    timing = built.timed(
        command("bench"),
        command("bench-base"),
        rounds=ROUNDS,
        warmup=1,
        clock="wall",
        check=check,
        timeout=RUN_TIMEOUT_S,
    )
    print(timing.describe())
    record_metric(timing.score, details=timing.to_json())
