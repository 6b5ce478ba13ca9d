"""Overhead of the evaluate() tool: one call minus the verifier alone.

    python benchmarks/evaluate_overhead.py [--calls 20] [--sandbox local] [--plain] [TASK ...]

For each task (default: the pilot tasks discover_sorting and flash_attention) the
reference solution is put in an agent sandbox, then, alternately, 20 times each:

- ``evaluate``: ``LabTools.evaluate()`` as an agent calls it: snapshot of the
  editable files, a child pytest running the verifier with the public seed in a
  scratch sandbox (forked from the warm fork server; ``--plain``: a plain
  ``python -m pytest`` child), the verdict read back, the ledger line written;
- ``verifier``: the same verifier module on the same files, run in this process
  with ``pytest.main`` (the same arguments, a scratch sandbox of its own), with
  the imports already warm.

The overhead is the median of ``evaluate`` minus the median of ``verifier``
(target: under 2 s). Alternating the two keeps a busy machine from favouring one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pytest_autolab.evaluation import verifier_command
from pytest_autolab.lab import Lab, RunSettings
from pytest_autolab.ledger import Ledger
from pytest_autolab.results import write_files
from pytest_autolab.tasks import Task, TaskFileError, load_task
from pytest_autolab.tools import Budget, LabTools

TASKS = Path(__file__).resolve().parent.parent / "tasks"
PILOTS = ("discover_sorting", "flash_attention")


def reference_files(task: Task) -> dict[str, bytes]:
    """The editable files as the reference solution has them (the starting ones where it has none)."""
    files = {}
    for rel in task.editable:
        for folder in (task.solution_dir, task.environment_dir):
            if (folder / rel).is_file():
                files[rel] = (folder / rel).read_bytes()
                break
    return files


def verifier_in_process(task: Task, snapshot_dir: Path, out_file: Path, *, sandbox: str) -> float:
    """Seconds for the verifier module's tests run here, as evaluate()'s child runs them."""
    args = verifier_command(task, snapshot_dir, out_file, sandbox=sandbox, run_id="overhead-inprocess")[3:]
    # This process imported pytest_autolab before pytest could rewrite its asserts: say it is fine.
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    module = task.verifier_path.stem
    sys.modules.pop(module, None)  # import (and rewrite) the module each time, as the child does
    cwd = os.getcwd()
    os.chdir(task.path)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # as in the child: verifier_environment()
    try:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = pytest.main(args)
        elapsed = time.perf_counter() - start
    finally:
        os.chdir(cwd)
        del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
    if code != 0:
        raise SystemExit(f"{task.name}: the verifier failed in process (exit {code}) on the reference files")
    return elapsed


def measure(task: Task, calls: int, sandbox: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="autolab-overhead-") as tmp:
        root = Path(tmp)
        lab = Lab(RunSettings(run_id="overhead", run_dir=root / "run", sandbox=sandbox))
        lab.backend.prepare(task)
        files = reference_files(task)
        agent_sandbox = lab.backend.start(task, role="agent", labels=lab.labels(task, "agent"))
        try:
            agent_sandbox.write_files(files)
            tools = LabTools(
                task=task,
                sandbox=agent_sandbox,
                budget=Budget(time_s=24 * 3600, max_evaluations=calls + 1),
                evaluator=lambda f, limit_s=None: lab.evaluate(task, f, limit_s=limit_s),
                ledger=Ledger(root / "ledger"),
            )
            snapshot_dir = root / "snapshot"
            write_files(snapshot_dir, files)
            out_file = root / "verdict.json"
            verifier_in_process(task, snapshot_dir, out_file, sandbox=lab.backend.name)  # warm-up
            evaluate_s, verifier_s = [], []
            for i in range(calls):
                start = time.perf_counter()
                result = tools.evaluate()
                evaluate_s.append(time.perf_counter() - start)
                if not result.get("correct"):
                    raise SystemExit(f"{task.name}: evaluate() did not pass the reference files: {result}")
                verifier_s.append(verifier_in_process(task, snapshot_dir, out_file, sandbox=lab.backend.name))
                print(f"  {task.name} #{i + 1}: evaluate {evaluate_s[-1]:.2f} s, verifier {verifier_s[-1]:.2f} s",
                      file=sys.stderr)  # fmt: skip
        finally:
            agent_sandbox.close()
            for run_id in ("overhead", "overhead-inprocess"):  # the evaluations' scratch sandboxes too
                lab.backend.sweep({"autolab.run": run_id})
    return {
        "evaluate_s": statistics.median(evaluate_s),
        "verifier_s": statistics.median(verifier_s),
        "overhead_s": statistics.median(evaluate_s) - statistics.median(verifier_s),
        "overhead_paired_s": statistics.median(e - v for e, v in zip(evaluate_s, verifier_s, strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=list(PILOTS), help="task folders or names under tasks/")
    parser.add_argument("--calls", type=int, default=20, help="evaluate() calls per task (default 20)")
    parser.add_argument("--sandbox", default="local", choices=("local", "docker"), help="sandbox backend")
    parser.add_argument("--plain", action="store_true", help="no fork server: a plain child per evaluation")
    options = parser.parse_args(argv)
    if options.plain:
        os.environ["AUTOLAB_EVALUATE_FORK"] = "0"
    rows = []
    for name in options.tasks:
        path = Path(name) if Path(name).is_dir() else TASKS / name
        try:
            task = load_task(path)
        except TaskFileError as exc:
            print(f"{name}: skipped: {exc}")
            continue
        figures = measure(task, options.calls, options.sandbox)
        rows.append((task.name, figures))
    child = "plain child" if options.plain else "fork server"
    print(f"evaluate() overhead, median of {options.calls} calls, sandbox={options.sandbox}, {child}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'task':<20} {'evaluate':>9} {'verifier':>9} {'overhead':>9} {'paired':>9}")
    for name, f in rows:
        print(f"{name:<20} {f['evaluate_s']:8.2f}s {f['verifier_s']:8.2f}s {f['overhead_s']:8.2f}s "
              f"{f['overhead_paired_s']:8.2f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
