"""Counted metrics: instructions and simulated cycles under Valgrind's Callgrind.

Counts do not wobble with machine load, so a score is the same on a busy
laptop and on a CI runner with the same image::

    counts = callgrind(sandbox, "./attn bench.bin out.bin")
    counts.instructions          # Ir, the whole program
    callgrind(sandbox, cmd, cache_sim=True).cycles   # Ir + 10*L1 misses + 100*LL misses

The cache simulation always models the same machine, ``MODEL_CACHE`` (32 KiB 8-way L1
instruction and data caches, a 1 MiB 16-way last level, 64-byte lines), given to Callgrind on
the command line: left to itself Callgrind copies the host's geometry, and the same binary
would count different cycles on different CPUs.

The Callgrind output goes to a file with a random name outside the app dir,
and only the harness parses it.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence

from .sandboxes import ExecResult, Sandbox

__all__ = ["MODEL_CACHE", "CacheModel", "CallgrindError", "Counts", "callgrind", "parse_callgrind_totals"]

#: Weights of the classic cycle estimate (KCachegrind's "CEst"): L1 miss 10, last-level miss 100.
L1_MISS_CYCLES = 10
LL_MISS_CYCLES = 100


@dataclasses.dataclass(frozen=True)
class CacheModel:
    """The geometry of a simulated cache hierarchy: (size in bytes, ways, line bytes) per level."""

    i1: tuple[int, int, int] = (32768, 8, 64)
    d1: tuple[int, int, int] = (32768, 8, 64)
    ll: tuple[int, int, int] = (1048576, 16, 64)

    def options(self) -> list[str]:
        """Callgrind's (and Cachegrind's) options that fix this geometry."""
        return [f"--{name}={','.join(map(str, level))}" for name, level in self.levels().items()]

    def levels(self) -> dict[str, tuple[int, int, int]]:
        return {"I1": self.i1, "D1": self.d1, "LL": self.ll}

    def to_json(self) -> dict[str, object]:
        """What a result records: the geometry and the cycle weights."""
        return {
            **{name: {"bytes": s, "ways": w, "line": b} for name, (s, w, b) in self.levels().items()},
            "cycles": f"Ir + {L1_MISS_CYCLES} * L1 misses + {LL_MISS_CYCLES} * LL misses",
        }


#: The one model machine every cycle count is simulated on (issue 10): 32 KiB 8-way L1
#: instruction and data caches, a 1 MiB 16-way last-level cache, 64-byte lines.
MODEL_CACHE = CacheModel()


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
    #: The simulated cache the cycles were counted on (``MODEL_CACHE``); None without ``cache_sim``.
    cache: CacheModel | None = None

    def details(self) -> dict[str, object]:
        """How this count was made, for a result's ``measurement`` (``record_metric(..., details=)``)."""
        return {
            "tool": "callgrind",
            "instructions": self.instructions,
            "cycles": self.cycles,
            "events": dict(self.events),
            "cache": self.cache.to_json() if self.cache else None,
        }


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
    cache: CacheModel = MODEL_CACHE,
    out_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    extra_options: Sequence[str] = (),
) -> Counts:
    """Run ``command`` (a program and its arguments) under Callgrind in ``sandbox``.

    With ``check`` (the default) a non-zero exit of the command raises
    CallgrindError carrying its output. ``cache_sim`` simulates ``cache`` (the
    fixed model machine unless told otherwise). Callgrind's files go to
    ``out_dir`` (default ``$TMPDIR``) under random names; ``env`` is added to the
    command's environment.
    """
    probe = sandbox.exec("command -v valgrind", timeout=30)
    if not probe.ok:
        raise CallgrindError(
            "valgrind is not installed in the sandbox: install it (Debian: apt-get install "
            "valgrind) or use the docker backend, whose base image has it"
        )
    token = secrets.token_hex(8)
    where = out_dir or "${TMPDIR:-/tmp}"
    out_file = f"{where}/autolab-cg-{token}.out"
    log_file = f"{where}/autolab-cg-{token}.log"
    options = [
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        f"--log-file={log_file}",
        f"--cache-sim={'yes' if cache_sim else 'no'}",
        "--dump-line=no",
        "--dump-instr=no",
        "--compress-strings=no",
        *(cache.options() if cache_sim else []),
        *extra_options,
    ]
    # ``command`` is a program and its arguments: valgrind runs it directly, so the
    # count is the program's alone, not that of a shell around it.
    wrapped = f"valgrind {' '.join(options)} {command}"
    result = sandbox.exec(wrapped, timeout=timeout, env=env)
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
        cache=cache if cache_sim else None,
    )


def _read_text(sandbox: Sandbox, path: str) -> str:
    # Outside the app dir, so read it with a command; the file is ours, by its random name.
    out = sandbox.exec(f"cat {path}", timeout=60, output_limit=64 * 1024 * 1024)
    return out.stdout if out.ok else ""
