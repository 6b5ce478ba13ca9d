"""The ``autolab`` command: results, images, leftovers of the Docker backend, and task authoring.

::

    autolab report RUN_DIR [RUN_DIR ...] [--json PATH] [--markdown PATH] [--html PATH] [--check]
    autolab list [PATH ...] [--json | --markdown]
    autolab image tag
    autolab image build [--force] [--method auto|dockerfile|debootstrap]
    autolab image status
    autolab sweep [--all | --run RUN_ID]
    autolab anchors TASK_DIR [TASK_DIR ...] [--write] [--sandbox auto|docker|local] [--seed N]
    autolab new NAME --language c|cpp|rust|go|python [--axis ...] [--dir tasks]

Everything here is also done on first use by the plugin; the command does it
ahead of time, with progress, and shows what is there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from .sandboxes import LABEL_ROLE, LABEL_RUN, SandboxError

__all__ = ["main"]


def _say(message: str) -> None:
    print(message, flush=True)


def _backend(*, sweep: bool = False):  # type: ignore[no-untyped-def]
    from .sandboxes.docker import DockerBackend

    return DockerBackend(run_id="cli", progress=_say, sweep=sweep)


def image_build(args: argparse.Namespace) -> int:
    from .sandboxes.images import BaseDefinition, ensure_base_image

    backend = _backend()
    try:
        definition = BaseDefinition.load()
        start = time.monotonic()
        tag = ensure_base_image(
            backend.client, definition=definition, method=args.method, force=args.force, progress=_say
        )
        _say(f"{tag} ready ({time.monotonic() - start:.0f} s)")
    finally:
        backend.close()
    return 0


def _size(info: dict) -> str:  # type: ignore[type-arg]
    return f"{info.get('Size', 0) / 1e6:.0f} MB"


def image_status(args: argparse.Namespace) -> int:
    from .sandboxes.images import BASE_REPOSITORY, TASK_REPOSITORY_PREFIX, BaseDefinition

    backend = _backend()
    try:
        definition = BaseDefinition.load()
        api = backend.client.api
        _say(f"engine: {api.base_url} (API {api.api_version})")
        _say(
            f"base definition: {definition.folder} ({len(definition.packages)} packages, {definition.suite})"
        )
        images = [i for i in api.images() if any(
            t.startswith((BASE_REPOSITORY + ":", TASK_REPOSITORY_PREFIX)) for t in i.get("RepoTags") or []
        )]  # fmt: skip
        current = [i for i in images if definition.tag in (i.get("RepoTags") or [])]
        if current:
            _say(f"base image: {definition.tag} present ({_size(current[0])})")
        else:
            _say(f"base image: {definition.tag} MISSING: `autolab image build` builds it")
        for info in sorted(images, key=lambda i: i.get("Created", 0)):
            for tag in info.get("RepoTags") or []:
                if tag == definition.tag:
                    continue
                stale = " (older base definition)" if tag.startswith(BASE_REPOSITORY + ":") else ""
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("Created", 0)))
                _say(f"  {tag:60} {_size(info):>8}  {created}{stale}")
        containers = backend.containers()
        running = sum(1 for c in containers if c.get("State") == "running")
        _say(f"containers: {len(containers)} autolab container(s), {running} running")
        for info in containers:
            labels = info.get("Labels") or {}
            _say(
                f"  {info['Names'][0].lstrip('/'):40} {info.get('State', '?'):8} "
                f"run={labels.get(LABEL_RUN, '?')} role={labels.get(LABEL_ROLE, '?')}"
            )
    finally:
        backend.close()
    return 0


def sweep(args: argparse.Namespace) -> int:
    from .sandboxes.docker import sweep_labelled, sweep_orphans

    backend = _backend()
    try:
        if args.all:
            removed = sweep_labelled(backend.client, {})
            what = "autolab container(s)"
        elif args.run:
            removed = sweep_labelled(backend.client, {LABEL_RUN: args.run})
            what = f"container(s) of run {args.run}"
        else:
            removed = sweep_orphans(backend.client)
            what = "container(s) left by harnesses that are gone"
        _say(f"removed {removed} {what}")
    finally:
        backend.close()
    return 0


def report(args: argparse.Namespace) -> int:
    """Print the table of one or more run directories, merged by agent (a CI matrix's jobs)."""
    from pathlib import Path

    from .report import (
        format_comparison,
        format_markdown,
        format_table,
        harness_failures,
        load_runs,
        summarize,
    )
    from .results import atomic_write_json, atomic_write_text

    try:
        groups, notes = load_runs([Path(p) for p in args.runs])
    except (FileNotFoundError, ValueError) as exc:
        print(f"autolab report: {exc}", file=sys.stderr)
        return 2
    for group in groups:
        if len(groups) > 1:
            _say(f"== {group.label} ==")
        for line in format_table(group.results):
            _say(line)
        _say("")
    if len(groups) > 1:
        _say("== comparison (reward) ==")
        for line in format_comparison(groups):
            _say(line)
        _say("")
    for note in notes:
        _say(note)
    if args.json:
        if len(groups) == 1:
            document = {
                "agent": groups[0].label,
                **summarize(groups[0].results),
                "not_run": groups[0].not_run,
            }
        else:
            document = {
                "groups": [{"agent": g.label, **summarize(g.results), "not_run": g.not_run} for g in groups]
            }
        atomic_write_json(Path(args.json), {**document, "merged": notes})
        _say(f"summary: {args.json}")
    if args.markdown:
        text = format_markdown(groups, notes)
        if args.markdown == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(Path(args.markdown), text)
            _say(f"markdown: {args.markdown}")
    if args.html:
        from .html_report import render_html

        atomic_write_text(Path(args.html), render_html(groups, notes, base=Path(args.html).resolve().parent))
        _say(f"html: {args.html}")
    if args.check:
        failures = [f"{g.label}: {line}" for g in groups for line in harness_failures(g)]
        for line in failures:
            print(f"autolab report: harness failure: {line}", file=sys.stderr)
        if failures:
            return 1
    return 0


def list_tasks(args: argparse.Namespace) -> int:
    """The task catalogue (a CI matrix): name, axis, metric, budgets, languages."""
    import json
    from pathlib import Path

    from .tasks import TaskFileError, load_task, task_languages

    folders: list[Path] = []
    for given in args.paths or ["tasks"]:
        path = Path(given)
        if (path / "task.toml").is_file():
            folders.append(path)
        elif path.is_dir() and any(path.glob("*/task.toml")):
            folders.extend(sorted(p.parent for p in path.glob("*/task.toml")))
        else:
            print(f"autolab list: {path}: not a task folder nor a folder of tasks", file=sys.stderr)
            return 2
    rows: list[dict[str, Any]] = []
    status = 0
    for folder in dict.fromkeys(folders):
        try:
            task = load_task(folder)
        except TaskFileError as exc:
            print(f"autolab list: {exc}", file=sys.stderr)
            status = 2
            continue
        tags = task.config.get("metadata", {}).get("tags", [])
        rows.append(
            {
                "name": task.name,
                "path": str(folder),
                "axis": task.axis,
                "metric": task.metric,
                "direction": task.direction,
                "scale": task.scale,
                "baseline": task.baseline,
                "reference": task.reference,
                "time_budget_s": task.agent_timeout_s,
                "max_evaluations": task.max_evaluations,
                "verifier_timeout_s": task.verifier_timeout_s,
                "cpus": task.cpus,
                "memory_mb": task.memory_mb,
                "languages": task_languages(task),
                "tags": list(tags) if isinstance(tags, list) else [],
            }
        )
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return status
    if args.markdown:
        _say("| task | axis | metric | baseline | reference | budget | evaluations | languages |")
        _say("|---|---|---|---:|---:|---:|---:|---|")
        for r in rows:
            _say(f"| {r['name']} | {r['axis']} | {r['metric']} ({r['direction']}, {r['scale']}) | "
                 f"{r['baseline']:g} | {r['reference']:g} | {r['time_budget_s']:.0f} s | "
                 f"{r['max_evaluations']} | {', '.join(r['languages'])} |")  # fmt: skip
        return status
    header = ("task", "axis", "metric", "budget", "evals", "languages")
    table = [header] + [
        (r["name"], r["axis"], f"{r['metric']} ({r['direction']})", f"{r['time_budget_s']:.0f}s",
         str(r["max_evaluations"]), ",".join(r["languages"]))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        _say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return status


def image_tag(args: argparse.Namespace) -> int:
    """Print the base image's tag (the hash of its definition): for `docker save` in CI."""
    from .sandboxes.images import BaseDefinition

    _say(BaseDefinition.load().tag)
    return 0


def anchors(args: argparse.Namespace) -> int:
    """Measure each task's baseline and reference through the verifier; with --write, update task.toml."""
    import tempfile
    from pathlib import Path

    from .tasks import TaskFileError, load_task
    from .validation import ValidationError, measure_anchors, write_anchor

    status = 0
    for folder in args.tasks:
        try:
            task = load_task(Path(folder))
        except TaskFileError as exc:
            print(f"autolab anchors: {exc}", file=sys.stderr)
            status = 2
            continue
        seed = task.public_seed if args.seed is None else args.seed
        with tempfile.TemporaryDirectory(prefix=f"autolab-anchors-{task.name}-") as scratch:
            try:
                measured = measure_anchors(task, sandbox=args.sandbox, seed=seed, scratch=Path(scratch))
            except ValidationError as exc:
                print(f"autolab anchors: {exc}", file=sys.stderr)
                status = 1
                continue
        text = task.toml_path.read_text(encoding="utf-8")
        for which, evaluation in measured.items():
            anchor = task.baseline if which == "baseline" else task.reference
            if evaluation.status != "scored" or evaluation.metric is None:
                said = evaluation.error or (evaluation.failures[0] if evaluation.failures else "")
                _say(f"{task.name}: {which}: not measured ({evaluation.status}): {said.strip()[:500]}")
                status = 1
                continue
            value = evaluation.metric
            off = abs(value - anchor) / abs(anchor) if anchor else float("inf")
            verdict = (
                "ok" if off <= task.min_improvement else f"OFF by {off:.2%} (gate {task.min_improvement:.2%})"
            )
            _say(f"{task.name}: {which}: measured {value:.10g}, task.toml {anchor:.10g}: {verdict}")
            if off > task.min_improvement:
                shown = int(value) if float(value).is_integer() else value
                _say(f"  [optimization.{which}]\n  score = {shown!r}")
                if not args.write:
                    status = max(status, 1)
            text = write_anchor(text, which, value)
        if args.write:
            task.toml_path.write_text(text, encoding="utf-8")
            _say(f"{task.name}: wrote the anchors to {task.toml_path}")
    return status


def new(args: argparse.Namespace) -> int:
    """Write a task folder that validates as written."""
    from pathlib import Path

    from .scaffold import ScaffoldError, write_scaffold

    try:
        folder = write_scaffold(Path(args.dir), args.name, language=args.language, axis=args.axis)
    except ScaffoldError as exc:
        print(f"autolab new: {exc}", file=sys.stderr)
        return 2
    _say(f"wrote {folder}; measuring its anchors (baseline and reference) ...")
    status = anchors(argparse.Namespace(tasks=[str(folder)], write=True, sandbox=args.sandbox, seed=None))
    _say(f"validate it: pytest {folder} --autolab-validate")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autolab", description="pytest-autolab: results, sandboxes and images"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    report_cmd = commands.add_parser(
        "report", help="print the results table of run directories, merged (e.g. a CI matrix's jobs)"
    )
    report_cmd.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run directory or a result.json")
    report_cmd.add_argument("--json", metavar="PATH", help="also write the merged summary JSON here")
    report_cmd.add_argument("--markdown", metavar="PATH", help="also write it as Markdown (- for stdout), "
                            "e.g. for $GITHUB_STEP_SUMMARY")  # fmt: skip
    report_cmd.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    report_cmd.add_argument(
        "--check", action="store_true",
        help="exit 1 when the harness failed a task (status error, invalid_task or incomplete, or a "
        "task not run); an agent's wrong answer or timeout is a result, not a failure",
    )  # fmt: skip
    report_cmd.set_defaults(func=report)

    list_cmd = commands.add_parser("list", help="list the tasks (the matrix of a CI run)")
    list_cmd.add_argument(
        "paths", nargs="*", metavar="PATH", help="task folders or folders of tasks (default: tasks)"
    )
    list_form = list_cmd.add_mutually_exclusive_group()
    list_form.add_argument("--json", action="store_true", help="one JSON object per task")
    list_form.add_argument("--markdown", action="store_true", help="a Markdown table")
    list_cmd.set_defaults(func=list_tasks)

    image = commands.add_parser("image", help="the Docker images tasks run in")
    image_commands = image.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    build = image_commands.add_parser("build", help="build the base image now (else on first use)")
    build.add_argument("--force", action="store_true", help="rebuild even if it exists")
    build.add_argument(
        "--method", choices=("auto", "dockerfile", "debootstrap"), default="auto",
        help="dockerfile needs a registry; debootstrap needs root and Debian's packages "
        "(auto: dockerfile where the registry answers)",
    )  # fmt: skip
    build.set_defaults(func=image_build)
    tag = image_commands.add_parser("tag", help="print the base image's tag (docker save/load in CI)")
    tag.set_defaults(func=image_tag)
    status = image_commands.add_parser("status", help="show the base and task images and containers")
    status.set_defaults(func=image_status)

    sweep_cmd = commands.add_parser(
        "sweep", help="remove containers left by harnesses that died (default), a run's, or all"
    )
    which = sweep_cmd.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every autolab container, live runs' too")
    which.add_argument("--run", metavar="RUN_ID", help="the containers of one run")
    sweep_cmd.set_defaults(func=sweep)

    anchors_cmd = commands.add_parser(
        "anchors", help="measure tasks' baseline and reference metrics (and --write them to task.toml)"
    )
    anchors_cmd.add_argument("tasks", nargs="+", metavar="TASK_DIR", help="a task folder (with task.toml)")
    anchors_cmd.add_argument("--write", action="store_true", help="update the scores in task.toml")
    anchors_cmd.add_argument("--sandbox", choices=("auto", "docker", "local"), default="auto")
    anchors_cmd.add_argument("--seed", type=int, default=None, help="input seed (default: the public seed)")
    anchors_cmd.set_defaults(func=anchors)

    new_cmd = commands.add_parser("new", help="write a new task folder that validates as written")
    new_cmd.add_argument("name", help="the task's folder name (a Python identifier)")
    new_cmd.add_argument("--language", required=True, choices=("c", "cpp", "rust", "go", "python"))
    new_cmd.add_argument("--axis", choices=("faster", "smarter", "smaller"), default=None,
                         help="default: faster for compiled languages, smaller for python")  # fmt: skip
    new_cmd.add_argument("--dir", default="tasks", help="the catalogue folder (default: tasks)")
    new_cmd.add_argument("--sandbox", choices=("auto", "docker", "local"), default="auto",
                         help="where the anchors are measured")  # fmt: skip
    new_cmd.set_defaults(func=new)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SandboxError as exc:
        print(f"autolab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
