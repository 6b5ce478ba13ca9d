"""Counted metrics: instructions and simulated cycles under Valgrind's Callgrind.

Counts do not wobble with machine load, so a score is the same on a busy
laptop and on a CI runner with the same image::

    counts = callgrind(sandbox, "./attn bench.bin out.bin")
    counts.instructions          # Ir, the whole program
    callgrind(sandbox, cmd, cache_sim=True).cycles   # Ir + 10*L1 misses + 100*LL misses

The Callgrind output goes to a file with a random name outside the app dir,
and only the harness parses it.
"""

from __future__ import annotations

import dataclasses
import secrets

from .sandboxes import ExecResult, Sandbox

__all__ = ["CallgrindError", "Counts", "callgrind", "parse_callgrind_totals"]

#: Weights of the classic cycle estimate (KCachegrind's "CEst"): L1 miss 10, last-level miss 100.
L1_MISS_CYCLES = 10
LL_MISS_CYCLES = 100


class CallgrindError(Exception):
    """Callgrind could not measure the command (missing valgrind, crash, no totals)."""


@dataclasses.dataclass(frozen=True)
class Counts:
    """What Callgrind counted for one run of a command."""

    #: Instructions executed (Ir), the whole process.
    instructions: int
    #: Estimated cycles with the cache simulation; None unless ``cache_sim``.
    cycles: int | None
    #: Every event total Callgrind reported (Ir, Dr, Dw, I1mr, ...).
    events: dict[str, int]
    #: The measured command's own result (its output, exit code).
    result: ExecResult


def parse_callgrind_totals(text: str) -> dict[str, int]:
    """Event totals from a callgrind.out file (its ``events:`` and ``summary:``/``totals:`` lines)."""
    names: list[str] | None = None
    totals: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("events:"):
            names = line.split(":", 1)[1].split()
        elif line.startswith(("summary:", "totals:")):
            totals = line.split(":", 1)[1].split()
    if not names or not totals:
        raise CallgrindError("no 'events:' and 'summary:' lines in the Callgrind output")
    return {name: int(value) for name, value in zip(names, totals, strict=False)}


def estimated_cycles(events: dict[str, int]) -> int:
    """Ir + 10 * (L1 misses) + 100 * (last-level misses)."""
    l1 = sum(events.get(k, 0) for k in ("I1mr", "D1mr", "D1mw"))
    ll = sum(events.get(k, 0) for k in ("ILmr", "DLmr", "DLmw"))
    return events["Ir"] + L1_MISS_CYCLES * l1 + LL_MISS_CYCLES * ll


def callgrind(
    sandbox: Sandbox,
    command: str,
    *,
    cache_sim: bool = False,
    timeout: float = 600,
    check: bool = True,
) -> Counts:
    """Run ``command`` (a program and its arguments) under Callgrind in ``sandbox``.

    With ``check`` (the default) a non-zero exit of the command raises
    CallgrindError carrying its output.
    """
    probe = sandbox.exec("command -v valgrind", timeout=30)
    if not probe.ok:
        raise CallgrindError(
            "valgrind is not installed in the sandbox: install it (Debian: apt-get install "
            "valgrind) or use the docker backend, whose base image has it"
        )
    token = secrets.token_hex(8)
    out_file = f"${{TMPDIR:-/tmp}}/autolab-cg-{token}.out"
    log_file = f"${{TMPDIR:-/tmp}}/autolab-cg-{token}.log"
    options = [
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        f"--log-file={log_file}",
        f"--cache-sim={'yes' if cache_sim else 'no'}",
        "--dump-line=no",
        "--dump-instr=no",
        "--compress-strings=no",
    ]
    # ``command`` is a program and its arguments: valgrind runs it directly, so the
    # count is the program's alone, not that of a shell around it.
    wrapped = f"valgrind {' '.join(options)} {command}"
    result = sandbox.exec(wrapped, timeout=timeout)
    try:
        if result.timed_out:
            raise CallgrindError(f"timed out after {timeout:g}s under Callgrind: {command}")
        if check and result.exit_code != 0:
            log = _read_text(sandbox, log_file)
            raise CallgrindError(
                f"{command!r} failed under Callgrind ({result.describe()}):\n"
                f"{result.output[-4000:]}\n{log[-2000:]}"
            )
        text = _read_text(sandbox, out_file)
        if not text:
            raise CallgrindError(f"Callgrind wrote no output for {command!r}")
        events = parse_callgrind_totals(text)
    finally:
        sandbox.exec(f"rm -f {out_file} {log_file}", timeout=30)
    return Counts(
        instructions=events["Ir"],
        cycles=estimated_cycles(events) if cache_sim else None,
        events=events,
        result=result,
    )


def _read_text(sandbox: Sandbox, path: str) -> str:
    # Outside the app dir, so read it with a command; the file is ours, by its random name.
    out = sandbox.exec(f"cat {path}", timeout=60, output_limit=64 * 1024 * 1024)
    return out.stdout if out.ok else ""
