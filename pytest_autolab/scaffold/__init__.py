"""``autolab new``: a task folder that validates as written, for an author to make their own.

Every language gets the same small problem (range-sum queries: a loop per query as the
baseline, sums of blocks as a rung, prefix sums as the reference, a program that skips work
as a cheat), the same verifier (inputs from the seed, every output checked, Callgrind's
instruction count as the metric) and an instruction that states the rules::

    tasks/<name>/
      task.toml  instruction.md  test_<name>.py
      environment/   the harness (read-only) and the editable file, as shipped
      solution/      the editable file, solved
      validation/    rungs/blocks/, cheats/skips_work/, validation.toml

The anchors are placeholders until measured: the ``autolab new`` command measures
them right away (``autolab anchors --write``).
"""

from __future__ import annotations

import dataclasses
import keyword
import shutil
import string
from pathlib import Path

__all__ = ["LANGUAGES", "ScaffoldError", "write_scaffold"]

TEMPLATES = Path(__file__).parent


class ScaffoldError(Exception):
    """The task cannot be written (a bad name, an existing folder); the message says why."""


@dataclasses.dataclass(frozen=True)
class Language:
    #: The file the agent may change, relative to the app dir.
    editable: str
    build: str
    run: str
    #: Benchmark size: values, queries.
    bench: tuple[int, int]
    #: The language's own rules, a sentence for the instruction.
    rules: str
    tags: tuple[str, ...]
    #: What the rung under validation/rungs/blocks does, for validation.toml.
    rung: str = "sums of blocks of 1024 values: loops only over the partial blocks"


LANGUAGES: dict[str, Language] = {
    "c": Language("solve.c", "make prog 2>&1", "./prog", (8000, 8000),
                  "C with the C library only, built by the read-only Makefile (-O2, x86-64-v3).", ("c",)),
    "cpp": Language("solve.cpp", "make prog 2>&1", "./prog", (8000, 8000),
                    "C++17 with the standard library only, built by the read-only Makefile (-O2, x86-64-v3).", ("cpp",)),
    "rust": Language("src/solve.rs", "make prog 2>&1", "./prog", (8000, 8000),
                     "Rust without crates and without `unsafe`, built offline by the read-only Makefile.", ("rust",)),
    "python": Language("solve.py", "python3 -m py_compile solve.py 2>&1", "python3 main.py", (2000, 600),
                       "Python 3 standard library only (no numpy, no native extensions).", ("python",),
                       "the built-in sum() over each query's slice: a C loop, still one per range"),
}  # fmt: skip

TASK_TOML = """\
version = "1.0"

[metadata]
author_name = "you"
difficulty = "easy"
category = "systems"
tags = $tags

[agent]
timeout_sec = 1800

[verifier]
timeout_sec = 600

[environment]
cpus = 1
memory_mb = 1024
storage_mb = 1024
gpus = 0
allow_internet = false

[optimization]
metric = "instructions"
direction = "lower"

[optimization.baseline]
score = 1000000000  # measured: autolab anchors --write
method = "a loop over each query's range (environment/ as shipped)"

[optimization.reference]
score = 10000000  # measured: autolab anchors --write
method = "prefix sums (solution/)"

[autolab]
axis = "$axis"
scale = "log"
editable = ["$editable"]
max_evaluations = 50
public_seed = 0
"""

VALIDATION_TOML = """\
# The ladder and the cheats (docs/tasks.md, "Validating a task").
rungs = ["blocks"]

[reasons]
blocks = "$rung"
skips_work = "answers the first 64 queries and guesses 0 for the rest"
"""


def write_scaffold(root: Path, name: str, *, language: str, axis: str | None = None) -> Path:
    """Write ``root/<name>/`` for ``language``; returns the folder."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ScaffoldError(f"{name!r} is not a usable task name: use letters, digits and underscores")
    if language == "go":
        raise ScaffoldError(
            "go: Go's runtime threads make Callgrind's count vary between runs (and Callgrind "
            "trips on its preemption signals), so Go tasks need the timed metric, which the "
            "scaffold does not write yet: start from tasks/lockfree_queue where it exists"
        )
    if language not in LANGUAGES:
        raise ScaffoldError(f"unknown language {language!r}: expected one of {', '.join(LANGUAGES)}")
    folder = root / name
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already: pick another name or remove it")
    spec = LANGUAGES[language]
    values = {
        "name": name,
        "axis": axis or "faster",
        "editable": spec.editable,
        "build": spec.build,
        "run": spec.run,
        "bench_n": str(spec.bench[0]),
        "bench_q": str(spec.bench[1]),
        "rules": spec.rules,
        "rung": spec.rung,
        "tags": "[" + ", ".join(f'"{t}"' for t in (*spec.tags, "scaffold")) + "]",
    }
    source = TEMPLATES / language
    folder.mkdir(parents=True)
    shutil.copytree(source / "environment", folder / "environment")
    shutil.copytree(source / "solution", folder / "solution")
    shutil.copytree(source / "rung", folder / "validation" / "rungs" / "blocks")
    shutil.copytree(source / "cheat", folder / "validation" / "cheats" / "skips_work")
    (folder / "validation" / "validation.toml").write_text(
        string.Template(VALIDATION_TOML).substitute(values)
    )
    (folder / "task.toml").write_text(string.Template(TASK_TOML).substitute(values))
    for template, target in (
        ("verifier.py.tmpl", f"test_{name}.py"),
        ("instruction.md.tmpl", "instruction.md"),
    ):
        text = (TEMPLATES / template).read_text()
        (folder / target).write_text(string.Template(text).substitute(values))
    return folder
