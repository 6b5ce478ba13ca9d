"""Benchmark the Docker sandbox backend: start, exec, copy and image builds.

::

    python benchmarks/sandbox_bench.py                 # 20 repetitions, a table
    python benchmarks/sandbox_bench.py -n 50 --json out.json
    python benchmarks/sandbox_bench.py --backend local # the same on the local backend

Each figure is the median over the repetitions with its spread (min, max and
the 10th-90th percentile range):

    warm start        create + start a container of a built task image, to the
                      end of its first exec (``true``)
    exec true         round trip of ``exec("true")`` in a running sandbox
    engine exec floor ``true`` through exec_create/exec_start/exec_inspect alone (docker)
    copy in 1 MB      write_files of a 1 MB snapshot, one file; also as 8 x 128 KB
    copy out 1 MB     snapshot of the same file(s)
    cold image build  a task image whose content is new (base image present)
    warm image build  prepare() of a task whose image exists (a lookup)

Targets (issue 3): warm start < 1 s, exec round trip < 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_autolab.sandboxes import SandboxBackend, get_backend
from pytest_autolab.tasks import Task, load_task

TASK_TOML = """\
version = "1.0"
[environment]
cpus = 1
memory_mb = 512
[optimization]
metric = "seconds"
direction = "lower"
[optimization.baseline]
score = 10
[optimization.reference]
score = 1
[autolab]
axis = "faster"
scale = "log"
editable = ["f0.bin"]
"""
TARGETS_S = {"warm start": 1.0, "exec true": 0.050}


def make_task(root: Path, marker: str) -> Task:
    """A small task; ``marker`` makes its content (hence its image) new."""
    folder = root / "bench_probe"
    (folder / "environment").mkdir(parents=True)
    (folder / "task.toml").write_text(TASK_TOML)
    (folder / "instruction.md").write_text("Benchmark.\n")
    (folder / "test_bench_probe.py").write_text("def test_nothing():\n    pass\n")
    (folder / "environment" / "f0.bin").write_bytes(b"0")
    (folder / "environment" / "marker.txt").write_text(marker)
    return load_task(folder)


def measure(label: str, repetitions: int, action: Callable[[], Any]) -> dict[str, Any]:
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    ordered = sorted(samples)
    p10 = ordered[int(0.1 * (len(ordered) - 1))]
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    result = {
        "name": label,
        "n": len(samples),
        "median_s": statistics.median(samples),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "p10_s": p10,
        "p90_s": p90,
        "stdev_s": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "samples_s": samples,
    }
    print(f"  {label}: median {result['median_s'] * 1000:.1f} ms", file=sys.stderr, flush=True)
    return result


def raw_exec(box: Any) -> None:
    """``true`` through the SDK's exec calls alone: what the engine itself costs."""
    api = box.client.api
    exec_id = api.exec_create(box.container_id, ["true"])["Id"]
    api.exec_start(exec_id)
    assert api.exec_inspect(exec_id)["ExitCode"] == 0


def remove_image(backend: SandboxBackend, tag: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        backend.client.api.remove_image(tag, force=True)  # type: ignore[attr-defined]


def run(backend_name: str, repetitions: int) -> dict[str, Any]:
    run_id = f"bench-{secrets.token_hex(3)}"
    backend = get_backend(backend_name, run_id=run_id)
    labels = {"autolab.run": run_id}
    scratch = Path(tempfile.mkdtemp(prefix="autolab-bench-"))
    results = []
    try:
        task = make_task(scratch / "main", secrets.token_hex(8))
        backend.prepare(task)

        def warm_start() -> None:
            box = backend.start(task, role="agent", labels=labels)
            try:
                assert box.exec("true").ok
            finally:
                box.close()

        results.append(measure("warm start", repetitions, warm_start))

        with backend.start(task, role="agent", labels=labels) as box:
            box.exec("true")
            results.append(measure("exec true", repetitions, lambda: box.exec("true")))
            if backend_name == "docker":
                results.append(measure("engine exec floor", repetitions, lambda: raw_exec(box)))
            one = {"f0.bin": os.urandom(2**20)}
            results.append(measure("copy in 1 MB", repetitions, lambda: box.write_files(one)))
            results.append(measure("copy out 1 MB", repetitions, lambda: box.snapshot(sorted(one))))
            assert box.snapshot(sorted(one)) == one
            eight = {f"f{i}.bin": os.urandom(2**17) for i in range(8)}
            results.append(measure("copy in 8 x 128 KB", repetitions, lambda: box.write_files(eight)))
            results.append(measure("copy out 8 x 128 KB", repetitions, lambda: box.snapshot(sorted(eight))))
            assert box.snapshot(sorted(eight)) == eight

        if backend_name == "docker":
            from pytest_autolab.sandboxes.images import build_task_image, task_image_tag

            base = backend.base_image()  # type: ignore[attr-defined]
            client = backend.client  # type: ignore[attr-defined]
            cold_tasks = [make_task(scratch / f"cold{i}", secrets.token_hex(8)) for i in range(repetitions)]
            tags = iter(cold_tasks)

            def cold_build() -> None:
                cold = next(tags)
                build_task_image(client, cold, base, tag=task_image_tag(cold, base))

            try:
                results.append(measure("cold image build", repetitions, cold_build))
            finally:
                for cold in cold_tasks:
                    remove_image(backend, task_image_tag(cold, base))

            def warm_build() -> None:
                fresh = get_backend("docker", run_id=run_id)  # a new process's view: no in-memory cache
                try:
                    fresh.prepare(task)
                finally:
                    fresh.close()  # type: ignore[attr-defined]

            results.append(measure("warm image build", repetitions, warm_build))
            remove_image(backend, task_image_tag(task, base))
    finally:
        backend.sweep(labels)
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    return {
        "backend": backend_name,
        "repetitions": repetitions,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "engine": _engine(backend_name),
        "results": results,
    }


def _engine(backend_name: str) -> dict[str, str]:
    if backend_name != "docker":
        return {}
    from pytest_autolab.sandboxes.docker import connect

    client = connect()
    try:
        info = client.version()
        docker_info = client.info()
        return {
            "version": info.get("Version", "?"),
            "api": info.get("ApiVersion", "?"),
            "storage_driver": docker_info.get("Driver", "?"),
            "cgroup": str(docker_info.get("CgroupVersion", "?")),
        }
    finally:
        client.close()


def table(report: dict[str, Any]) -> str:
    lines = [
        f"backend: {report['backend']}  repetitions: {report['repetitions']}  engine: {report['engine']}",
        f"{'measure':18} {'median':>10} {'p10-p90':>21} {'min-max':>21}  target",
    ]
    for r in report["results"]:
        target = TARGETS_S.get(r["name"])
        verdict = "" if target is None else f"< {_ms(target)} {'ok' if r['median_s'] < target else 'MISSED'}"
        lines.append(
            f"{r['name']:18} {_ms(r['median_s']):>10} {_ms(r['p10_s']) + '-' + _ms(r['p90_s']):>21} "
            f"{_ms(r['min_s']) + '-' + _ms(r['max_s']):>21}  {verdict}"
        )
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n", "--repetitions", type=int, default=20, help="repetitions of each measure (>= 20)"
    )
    parser.add_argument("--backend", choices=("docker", "local"), default="docker")
    parser.add_argument("--json", metavar="PATH", help="also write the figures (and every sample) here")
    args = parser.parse_args(argv)
    if args.repetitions < 2:
        parser.error("--repetitions: at least 2 (the issue asks for 20 or more)")
    report = run(args.backend, args.repetitions)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
