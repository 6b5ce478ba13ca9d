"""Is a native program's count the same run after run? Counts one binary several times through the
verifier's own path (``pytest_autolab.native``: fresh hash-checked copy, Landlock launcher,
Callgrind cross-checked by Cachegrind) in a sandbox of each backend.

    python benchmarks/native_repeatability.py [--sandbox local docker] [--repeats 3] [--cache-sim]
                                              [--program solution|environment]

Builds flash_attention's solution/attention.c (or environment/, the baseline) with the task's
own Makefile and main.c, writes the benchmark input of seed 0 exactly as the verifier does, and
prints every count, whether they are identical, and the seconds per count (both tools).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from types import ModuleType

from pytest_autolab import native
from pytest_autolab.lab import Submission
from pytest_autolab.sandboxes import get_backend
from pytest_autolab.tasks import load_task

TASK = Path(__file__).resolve().parent.parent / "tasks" / "flash_attention"


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "flash_attention_verifier", TASK / "test_flash_attention.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", nargs="+", default=["local", "docker"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-sim", action="store_true", help="count cycles on the model cache too")
    parser.add_argument("--program", choices=["solution", "environment"], default="solution")
    args = parser.parse_args()
    verifier = load_verifier()
    task = load_task(TASK)
    q, k, v = verifier.random_input(verifier.rng_for(0, 7), verifier.BENCH_N, verifier.BENCH_D)
    bench = verifier.encode(q, k, v)
    source = (TASK / args.program / "attention.c").read_bytes()
    for name in args.sandbox:
        backend = get_backend(name, run_id=f"repeatability-{int(time.time())}")
        backend.prepare(task)
        with backend.start(task, role="verify", labels={"autolab.run": "repeatability"}) as sandbox:
            sandbox.write_files({"attention.c": source, "bench.bin": bench})
            program = native.build(
                Submission(task, sandbox, seed=0, hidden=False),
                "make attn",
                binary="attn",
                rules=verifier.RULES,
            )
            program.assert_built()
            assert not program.problems(), program.problems()
            counts, seconds = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                c = program.count("run bench.bin bench.out", cache_sim=args.cache_sim)
                seconds.append(time.perf_counter() - start)
                counts.append((c.instructions, c.cycles))
            same = "identical" if len(set(counts)) == 1 else "DIFFERENT"
            print(
                f"{name:6s} {args.program}: {[c[0] for c in counts]} instructions"
                + (f", {[c[1] for c in counts]} cycles" if args.cache_sim else "")
                + f" ({same}); {sum(seconds) / len(seconds):.1f} s per count (Callgrind + Cachegrind)"
            )
        close = getattr(backend, "close", None)
        if callable(close):
            close()


if __name__ == "__main__":
    main()
