"""Round-trip every file of samples/ through run_codec.py and print bits per byte (read-only).

    python3 check.py            # all samples
    python3 check.py text.txt   # one

Each call runs in a fresh process, like the verifier's, and the decompressor gets only the
compressed file. The verifier's own files come from the same sources but from a hidden seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def run(direction: str, source: str, target: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, os.path.join(HERE, "run_codec.py"), direction, source, target], check=True, cwd=HERE
    )
    return time.monotonic() - start


def main(names: list[str]) -> None:
    folder = os.path.join(HERE, "samples")
    names = names or sorted(os.listdir(folder))
    raw = packed = baseline = 0
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            original = os.path.join(folder, name)
            blob, back = os.path.join(scratch, name + ".z"), os.path.join(scratch, name + ".out")
            t_c = run("compress", original, blob)
            t_d = run("decompress", blob, back)
            with open(original, "rb") as f:
                data = f.read()
            with open(back, "rb") as f:
                ok = f.read() == data
            size = os.path.getsize(blob)
            z = len(zlib.compress(data, 6))
            raw, packed, baseline = raw + len(data), packed + size, baseline + z
            print(
                f"{name:12s} {len(data):7d} B  {8 * size / max(len(data), 1):6.3f} bpb (zlib -6 {8 * z / max(len(data), 1):6.3f})"
                f"  compress {t_c:5.1f} s  decompress {t_d:5.1f} s  {'ok' if ok else 'ROUND TRIP FAILED'}"
            )
    print(f"{'total':12s} {raw:7d} B  {8 * packed / raw:6.3f} bpb (zlib -6 {8 * baseline / raw:6.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
