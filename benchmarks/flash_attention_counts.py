"""Measure the flash_attention anchors: Callgrind counts and native times of the baseline and the reference.

    python benchmarks/flash_attention_counts.py [--repeats 3] [--seeds 0 1 2]

Builds environment/attention.c (the baseline) and solution/attention.c (the reference) with the
task's own Makefile and main.c in temporary directories, writes the benchmark input exactly as the
verifier does for each seed, and runs ``./attn run`` under ``valgrind --tool=callgrind`` (the
count recorded in task.toml is seed 0, the public seed) and natively (best of a few runs).
Needs gcc, make, valgrind and numpy.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

TASK = Path(__file__).resolve().parent.parent / "tasks" / "flash_attention"


def load_verifier():
    spec = importlib.util.spec_from_file_location(
        "flash_attention_verifier", TASK / "test_flash_attention.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(src: Path, into: Path) -> None:
    for name in ("Makefile", "main.c", "attention.h"):
        shutil.copy(TASK / "environment" / name, into / name)
    shutil.copy(src, into / "attention.c")
    subprocess.run(["make", "-s"], cwd=into, check=True, capture_output=True)


def callgrind(app: Path) -> int:
    out = app / "cg.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            f"--log-file={app / 'cg.log'}",
            "./attn",
            "run",
            "bench.bin",
            "bench.out",
        ],
        cwd=app,
        check=True,
    )
    match = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
    assert match, "no totals in the Callgrind output"
    return int(match.group(1))


def native_seconds(app: Path, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["./attn", "run", "bench.bin", "bench.out"], cwd=app, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="Callgrind runs per program and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    verifier = load_verifier()
    programs = {
        "baseline": TASK / "environment" / "attention.c",
        "reference": TASK / "solution" / "attention.c",
    }
    with tempfile.TemporaryDirectory() as tmp:
        apps = {}
        for name, src in programs.items():
            apps[name] = Path(tmp) / name
            apps[name].mkdir()
            build(src, apps[name])
        for seed in args.seeds:
            q, k, v = verifier.random_input(verifier.rng_for(seed, 7), verifier.BENCH_N, verifier.BENCH_D)
            data = verifier.encode(q, k, v)
            counts = {}
            for name, app in apps.items():
                (app / "bench.bin").write_bytes(data)
                start = time.perf_counter()
                counts[name] = [callgrind(app) for _ in range(args.repeats)]
                wall = (time.perf_counter() - start) / args.repeats
                print(
                    f"seed {seed} {name:9s} instructions {counts[name]}  "
                    f"callgrind wall {wall:.1f} s/run  native {native_seconds(app) * 1e3:.1f} ms"
                )
            print(
                f"seed {seed} ratio baseline/reference {counts['baseline'][0] / counts['reference'][0]:.1f}x"
            )


if __name__ == "__main__":
    main()
