"""Run selection.select on a pool file and save the chosen indices (read-only).

    python3 run_select.py pool_public.npz chosen.npy

This is exactly what the verifier runs, in a fresh sandbox, on a pool drawn from a hidden
seed. The CPU-time limit is set here for this process (the kernel stops it past the
limit); the verifier also stops the command after 300 s of wall-clock time.
"""

from __future__ import annotations

import resource
import sys

import numpy as np

#: CPU seconds (user + system, all threads) that selection.select may use, start-up included.
CPU_LIMIT_S = 30
#: Samples to pick.
K = 3000


def main(pool_path: str, out_path: str) -> None:
    # SIGXCPU at the limit, SIGKILL a second later
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = CPU_LIMIT_S + 1 if hard == resource.RLIM_INFINITY else min(CPU_LIMIT_S + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(CPU_LIMIT_S, new_hard), new_hard))
    with np.load(pool_path, allow_pickle=False) as pool:
        features, labels, categories = pool["features"], pool["labels"], pool["categories"]
    import selection

    chosen = selection.select(features, labels, categories, K)
    indices = np.asarray(chosen)
    if indices.dtype.kind not in "iu":
        raise SystemExit(f"select() must return integers, got an array of dtype {indices.dtype}")
    np.save(out_path, indices.astype(np.int64), allow_pickle=False)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"picked {indices.size} indices in {cpu:.1f} s CPU (limit {CPU_LIMIT_S} s)", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 run_select.py POOL.npz OUT.npy")
    main(sys.argv[1], sys.argv[2])
