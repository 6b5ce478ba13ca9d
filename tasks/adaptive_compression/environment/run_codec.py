"""Run codec.compress or codec.decompress on one file, in its own process (read-only).

    python3 run_codec.py compress   samples/text.txt text.z
    python3 run_codec.py decompress text.z text.out

This is exactly what the verifier runs, one process per file and direction. The CPU-time
limit is set here (the kernel stops the process past it); the verifier also stops the
command after 300 s of wall-clock time.
"""

from __future__ import annotations

import os
import resource
import sys

#: CPU seconds (user + system, all threads) one call may use, start-up included.
CPU_LIMIT_S = 60


def main(direction: str, source: str, target: str) -> None:
    # SIGXCPU at the limit, SIGKILL a second later
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = CPU_LIMIT_S + 1 if hard == resource.RLIM_INFINITY else min(CPU_LIMIT_S + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(CPU_LIMIT_S, new_hard), new_hard))
    with open(source, "rb") as f:
        data = f.read()
    import codec

    result = codec.compress(data) if direction == "compress" else codec.decompress(data)
    if not isinstance(result, (bytes, bytearray, memoryview)):
        raise SystemExit(f"codec.{direction}() must return bytes, got {type(result).__name__}")
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "wb") as f:
        f.write(bytes(result))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{direction}: {len(data)} -> {len(result)} bytes in {cpu:.2f} s CPU", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("compress", "decompress"):
        raise SystemExit("usage: python3 run_codec.py compress|decompress SOURCE TARGET")
    main(*sys.argv[1:])
