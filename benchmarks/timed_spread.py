"""How much the reward of a timed task moves: repetitions, container CPUs, -n 2.

    python benchmarks/timed_spread.py [--task lockfree_queue] [--agent oracle] [--repeats 5]
        [--sandbox local] [--cpus 1 2] [--cpu-repeats 3] [--beside flash_attention]
        [--pair-repeats 3] [--json out.json]

Three experiments on one submission of one timed task (default: the oracle's):

- ``repeat``: the task verified ``--repeats`` times in a row (the sandbox given);
- ``cpus=N``: verified in Docker containers with ``[environment] cpus = N`` (a copy of the
  task with that one key changed), ``--cpu-repeats`` times each (skipped without Docker);
- ``beside``: verified under ``-n 2`` next to another task (``--beside``), which runs its
  own verifier at the same time, ``--pair-repeats`` times (the neighbour's rows are shown too:
  with another timed task as the neighbour, one pair run measures both).

For each run it records the speedup, its interval, n, the reward, the verify time and the
machine's load average; for each experiment the median and the spread (max - min) of n.
The load is printed with every row: on a shared machine it explains most of the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT / "tasks"


def run_pytest(paths: list[Path], agent: str, sandbox: str, extra: list[str]) -> dict[str, dict[str, Any]]:
    """Run the tasks at ``paths``; return {task: result.json} of the run."""
    with tempfile.TemporaryDirectory(prefix="timed-spread-") as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [
            sys.executable, "-m", "pytest", *map(str, paths), f"--autolab-agent={agent}",
            f"--autolab-sandbox={sandbox}", f"--autolab-run-dir={run_dir}", "-p", "no:cacheprovider",
            "-q", *extra,
        ]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        results = {}
        for result_json in run_dir.glob("*/result.json"):
            data = json.loads(result_json.read_text())
            results[data["task"]] = data
        return results


def row(result: dict[str, Any] | None, load_before: float) -> dict[str, Any]:
    if result is None:
        return {"status": "missing", "load": load_before}
    details = result.get("details") or {}
    return {
        "status": result["status"],
        "speedup": details.get("speedup", result.get("metric")),
        "low": details.get("low"),
        "high": details.get("high"),
        "wall": (details.get("wall") or {}).get("speedup"),
        "n": result.get("n"),
        "reward": result.get("reward"),
        "verify_s": result.get("verify_time_s"),
        "load": round(load_before, 1),
        "reason": result.get("reason", "")[:200],
    }


def with_cpus(task_dir: Path, cpus: float, into: Path) -> Path:
    """A copy of the task folder whose task.toml asks for ``cpus`` CPUs."""
    copy = into / task_dir.name
    shutil.copytree(task_dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (copy / "task.toml").read_text()
    toml, count = re.subn(r"(?m)^cpus\s*=.*$", f"cpus = {cpus:g}", toml)
    if count != 1:
        raise SystemExit(f"{task_dir}/task.toml: expected one 'cpus =' line")
    (copy / "task.toml").write_text(toml)
    return copy


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def summarize(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    ns = [r["n"] for r in rows if isinstance(r.get("n"), (int, float))]
    speedups = [r["speedup"] for r in rows if isinstance(r.get("speedup"), (int, float))]
    return {
        "experiment": name,
        "runs": len(rows),
        "scored": len(ns),
        "speedup_median": statistics.median(speedups) if speedups else None,
        "n_median": statistics.median(ns) if ns else None,
        "n_min": min(ns) if ns else None,
        "n_max": max(ns) if ns else None,
        "n_spread": (max(ns) - min(ns)) if ns else None,
        "load_median": statistics.median(r["load"] for r in rows) if rows else None,
    }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="lockfree_queue")
    parser.add_argument("--agent", default="oracle")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sandbox", default="local", choices=("local", "docker"))
    parser.add_argument("--cpus", type=float, nargs="*", default=[1, 2])
    parser.add_argument("--cpu-repeats", type=int, default=3)
    parser.add_argument(
        "--beside", default="flash_attention", help="task run next to it under -n 2 ('' to skip)"
    )
    parser.add_argument("--pair-repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    task_dir = TASKS / args.task
    experiments: dict[str, list[dict[str, Any]]] = {}

    def record(name: str, result: dict[str, Any] | None, load: float) -> None:
        entry = row(result, load)
        experiments.setdefault(name, []).append(entry)
        print(
            f"{name:10s} n={fmt(entry.get('n'))} speedup={fmt(entry.get('speedup'))} "
            f"[{fmt(entry.get('low'))}, {fmt(entry.get('high'))}] wall={fmt(entry.get('wall'))} "
            f"reward={fmt(entry.get('reward'))} verify={fmt(entry.get('verify_s'), 0)}s load={entry['load']} "
            f"{entry['status']} {entry.get('reason', '')[:80]}",
            flush=True,
        )

    for _ in range(args.repeats):
        load = os.getloadavg()[0]
        record("repeat", run_pytest([task_dir], args.agent, args.sandbox, []).get(args.task), load)

    if args.cpus and args.cpu_repeats:
        if not docker_available():
            print("cpus: skipped (no Docker engine answers)", flush=True)
        else:
            with tempfile.TemporaryDirectory(prefix="timed-spread-tasks-", dir=ROOT / ".autolab") as tmp:
                for cpus in args.cpus:
                    variant = with_cpus(task_dir, cpus, Path(tmp) / f"cpus{cpus:g}")
                    for _ in range(args.cpu_repeats):
                        load = os.getloadavg()[0]
                        record(
                            f"cpus={cpus:g}",
                            run_pytest([variant], args.agent, "docker", []).get(args.task),
                            load,
                        )

    if args.beside and args.pair_repeats:
        for _ in range(args.pair_repeats):
            load = os.getloadavg()[0]
            paths = [task_dir, TASKS / args.beside]
            results = run_pytest(paths, args.agent, args.sandbox, ["-n", "2"])
            record("beside", results.get(args.task), load)
            record(f"{args.beside} (its neighbour)"[:30], results.get(args.beside), load)

    summaries = [summarize(name, rows) for name, rows in experiments.items()]
    print()
    print(
        f"{'experiment':10s} {'runs':>4s} {'scored':>6s} {'speedup':>8s} {'n med':>6s} {'n min':>6s} {'n max':>6s} {'spread':>6s} {'load':>5s}"
    )
    for s in summaries:
        print(
            f"{s['experiment']:10s} {s['runs']:4d} {s['scored']:6d} {fmt(s['speedup_median']):>8s} "
            f"{fmt(s['n_median']):>6s} {fmt(s['n_min']):>6s} {fmt(s['n_max']):>6s} {fmt(s['n_spread']):>6s} "
            f"{fmt(s['load_median'], 1):>5s}"
        )
    if args.json:
        args.json.write_text(json.dumps({"task": args.task, "agent": args.agent, "summaries": summaries,
                                         "runs": experiments, "at": time.time()}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
