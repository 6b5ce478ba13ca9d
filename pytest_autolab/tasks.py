"""Task folders: discovery, the task.toml schema, and validation.

A task folder is recognised by its ``task.toml``. Everything else is found by
convention::

    tasks/discover_sorting/
      task.toml                  metadata, budget, resources, metric and anchors
      instruction.md             what the agent is told (verbatim)
      environment/               the starting program (becomes the sandbox's app dir)
      solution/                  the reference solution, never shown to the agent
      test_discover_sorting.py   the verifier: an ordinary pytest module

The schema keeps Harbor's and AutoLab's keys so that tasks travel between the
ecosystems; our own keys live under ``[autolab]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import math
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

__all__ = [
    "AXES",
    "NodeTasks",
    "Task",
    "TaskFileError",
    "attempt_name",
    "find_task_dir",
    "load_task",
    "pristine_module",
    "task_languages",
]

AXES = ("faster", "smarter", "smaller")
Axis = Literal["faster", "smarter", "smaller"]
Scale = Literal["log", "linear"]
Direction = Literal["lower", "higher"]

#: Files under environment/ that describe the image, not the program.
ENVIRONMENT_META = frozenset({"Dockerfile", ".dockerignore"})


class TaskFileError(Exception):
    """A task folder or its task.toml is invalid.

    The message names the file, the key and what was expected, so that a task
    author can fix it without reading our code.
    """

    def __init__(self, path: Path | str, message: str, *, key: str | None = None) -> None:
        self.path = Path(path)
        self.key = key
        where = f"{self.path}" + (f": [{key}]" if key else "")
        super().__init__(f"{where}: {message}")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task, as read from its folder. Immutable; safe to share between threads."""

    #: Folder name, the task's identity in results (``discover_sorting``).
    name: str
    #: The task folder.
    path: Path
    #: faster | smarter | smaller.
    axis: Axis
    #: log | linear: how the metric is normalised between the anchors.
    scale: Scale
    #: lower | higher: which way the metric improves.
    direction: Direction
    #: Name of the metric (``comparators``, ``instructions``).
    metric: str
    #: Metric of the untouched starting program.
    baseline: float
    #: Metric of the reference solution.
    reference: float
    #: Reward at n = 1 (AutoLab: 0.5 for log-scaled tasks, 1.0 for linear ones).
    ref_reward: float
    #: Files (relative to the app dir) the agent may change; all else is read-only.
    editable: tuple[str, ...]
    #: Wall-clock budget of the agent loop, seconds.
    agent_timeout_s: float
    #: Budget of one verification, seconds.
    verifier_timeout_s: float
    #: Maximum number of evaluate() calls.
    max_evaluations: int
    #: Smallest relative improvement over the baseline that earns a reward (a gate against
    #: measurement noise and environment differences: 0.01 = 1%).
    min_improvement: float
    #: Seed of the inputs the agent sees through evaluate().
    public_seed: int
    cpus: float
    memory_mb: int
    storage_mb: int
    gpus: int
    allow_internet: bool
    #: The whole parsed task.toml, for task-specific keys.
    config: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)
    #: Which of --autolab-attempts K independent runs this is (1..K); 0 when K = 1.
    attempt: int = 0

    @property
    def run_name(self) -> str:
        """The task's folder in a run directory: ``name``, or ``name@k`` for attempt k."""
        return attempt_name(self.name, self.attempt)

    @property
    def toml_path(self) -> Path:
        return self.path / "task.toml"

    @property
    def environment_dir(self) -> Path:
        return self.path / "environment"

    @property
    def solution_dir(self) -> Path:
        return self.path / "solution"

    @property
    def instruction(self) -> str:
        return (self.path / "instruction.md").read_text(encoding="utf-8")

    @property
    def verifier_path(self) -> Path:
        """The verifier module: ``test_<name>.py``, else the only ``test_*.py``."""
        return _verifier_path(self.path)

    def environment_files(self) -> Iterator[tuple[str, Path]]:
        """(relative posix path, absolute path) of every program file of environment/."""
        for file in sorted(self.environment_dir.rglob("*")):
            rel = file.relative_to(self.environment_dir).as_posix()
            if file.is_file() and rel not in ENVIRONMENT_META:
                yield rel, file

    def content_hash(self) -> str:
        """A hash of environment/ (names, modes and bytes): keys images and caches."""
        digest = hashlib.sha256()
        for file in sorted(self.environment_dir.rglob("*")):
            if file.is_file():
                digest.update(file.relative_to(self.environment_dir).as_posix().encode())
                digest.update(oct(file.stat().st_mode & 0o777).encode())
                digest.update(file.read_bytes())
        return digest.hexdigest()[:16]


def find_task_dir(path: Path) -> Path | None:
    """The task folder that contains ``path`` (itself or an ancestor), if any."""
    for candidate in (path, *path.parents):
        if (candidate / "task.toml").is_file():
            return candidate
    return None


class NodeTasks:
    """Which task folder a test's node id lies in, looked up once per file::

    NodeTasks(root).folder("tasks/x/test_x.py::test_sorted")  -> Path("/root/tasks/x")
    NodeTasks(root).folder("tests/test_scoring.py::test_zero")  -> None
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, Path | None] = {}

    def folder(self, nodeid: str) -> Path | None:
        file_part = nodeid.split("::", 1)[0]
        if file_part not in self._folders:
            self._folders[file_part] = find_task_dir((self.root / file_part).parent)
        return self._folders[file_part]

    def name(self, nodeid: str) -> str | None:
        """The task's name (its folder's), or None outside a task."""
        folder = self.folder(nodeid)
        return folder.name if folder is not None else None


def _verifier_path(task_dir: Path) -> Path:
    named = task_dir / f"test_{task_dir.name}.py"
    if named.is_file():
        return named
    modules = sorted(task_dir.glob("test_*.py"))
    if len(modules) == 1:
        return modules[0]
    if not modules:
        raise TaskFileError(task_dir, f"no verifier module: expected test_{task_dir.name}.py")
    names = ", ".join(m.name for m in modules)
    raise TaskFileError(
        task_dir, f"several verifier modules ({names}): name the one to use test_{task_dir.name}.py"
    )


# --- schema ------------------------------------------------------------------------------------

# Every table and key we accept, so that a typo fails loudly instead of being ignored.
# Harbor and AutoLab keys are accepted even where we do not use them.
_KNOWN: dict[str, set[str] | None] = {
    "": {"version", "source", "metadata", "agent", "verifier", "environment", "optimization", "autolab"},
    "metadata": None,  # free-form: author, difficulty, domain, tags, ...
    "agent": {"timeout_sec"},
    "verifier": {"timeout_sec", "env"},
    "environment": {
        "cpus",
        "memory_mb",
        "storage_mb",
        "gpus",
        "allow_internet",
        "build_timeout_sec",
        "gpu_types",
        "gpu_type",
        "source",
    },
    "optimization": {
        "metric",
        "direction",
        "tier",
        "baseline",
        "reference",
        "constraints",
        "search_space",
    },
    "optimization.baseline": {"score", "method", "source"},
    "optimization.reference": {"score", "method", "source"},
    "autolab": {
        "axis",
        "scale",
        "editable",
        "max_evaluations",
        "ref_reward",
        "public_seed",
        "min_improvement",
    },
}

_DIRECTIONS: dict[str, Direction] = {
    "lower": "lower",
    "minimize": "lower",
    "min": "lower",
    "higher": "higher",
    "maximize": "higher",
    "max": "higher",
}


class _Reader:
    """Typed access to a parsed task.toml that raises TaskFileError naming the key."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, message: str) -> TaskFileError:
        return TaskFileError(self.path, message, key=key)

    def get(self, key: str, default: Any = ...) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is ...:
                    raise self.fail(key, "missing; this key is required")
                return default
            node = node[part]
        return node

    def number(self, key: str, default: Any = ..., *, positive: bool = True) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"expected a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"expected a positive number, got {value!r}")
        return float(value)

    def integer(self, key: str, default: Any = ..., *, minimum: int = 0) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: Mapping[str, Any] | tuple[str, ...], default: Any = ...) -> Any:
        value = self.get(key, default)
        if value not in choices:
            expected = " | ".join(choices)
            raise self.fail(key, f"expected one of {expected}, got {value!r}")
        return choices[value] if isinstance(choices, Mapping) else value


def _check_known_keys(path: Path, data: Mapping[str, Any], prefix: str = "") -> None:
    allowed = _KNOWN.get(prefix)
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if allowed is not None and key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise TaskFileError(path, f"unknown key; expected one of: {expected}", key=dotted)
        if isinstance(value, Mapping) and dotted in _KNOWN:
            _check_known_keys(path, value, dotted)


def load_task(task_dir: Path | str) -> Task:
    """Read and validate a task folder. Raises TaskFileError naming what to fix."""
    task_dir = Path(task_dir).resolve()
    toml_path = task_dir / "task.toml"
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskFileError(toml_path, "not found: a task folder needs a task.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskFileError(toml_path, f"not valid TOML: {exc}") from None
    _check_known_keys(toml_path, data)
    toml = _Reader(toml_path, data)

    for required in ("instruction.md", "environment"):
        if not (task_dir / required).exists():
            raise TaskFileError(task_dir / required, "missing: every task folder needs it")
    _verifier_path(task_dir)

    axis = toml.choice("autolab.axis", AXES)
    scale = toml.choice("autolab.scale", ("log", "linear"))
    direction = toml.choice("optimization.direction", _DIRECTIONS)
    baseline = toml.number("optimization.baseline.score", positive=scale == "log")
    reference = toml.number("optimization.reference.score", positive=scale == "log")
    if baseline == reference:
        raise toml.fail(
            "optimization.reference.score",
            f"equals the baseline ({baseline:g}): the anchors must differ",
        )
    if (reference < baseline) != (direction == "lower"):
        raise toml.fail(
            "optimization.reference.score",
            f"{reference:g} is not better than the baseline {baseline:g} "
            f"for direction = {toml.get('optimization.direction')!r}",
        )

    editable = toml.get("autolab.editable")
    if not isinstance(editable, list) or not editable or not all(isinstance(e, str) for e in editable):
        raise toml.fail("autolab.editable", f"expected a non-empty list of file paths, got {editable!r}")
    for rel in editable:
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise toml.fail("autolab.editable", f"{rel!r} must be a path inside environment/")
        if not (task_dir / "environment" / rel).is_file():
            raise toml.fail("autolab.editable", f"{rel!r} does not exist in {task_dir / 'environment'}")

    default_ref_reward = 0.5 if scale == "log" else 1.0
    ref_reward = toml.number("autolab.ref_reward", default_ref_reward)
    if ref_reward > 1:
        raise toml.fail("autolab.ref_reward", f"expected a number in (0, 1], got {ref_reward!r}")

    return Task(
        name=task_dir.name,
        path=task_dir,
        axis=axis,
        scale=scale,
        direction=direction,
        metric=str(toml.get("optimization.metric")),
        baseline=baseline,
        reference=reference,
        ref_reward=ref_reward,
        editable=tuple(editable),
        agent_timeout_s=toml.number("agent.timeout_sec", 1800),
        verifier_timeout_s=toml.number("verifier.timeout_sec", 600),
        max_evaluations=toml.integer("autolab.max_evaluations", 100, minimum=1),
        min_improvement=toml.number("autolab.min_improvement", 0.01, positive=False),
        public_seed=toml.integer("autolab.public_seed", 0),
        cpus=toml.number("environment.cpus", 1),
        memory_mb=toml.integer("environment.memory_mb", 2048, minimum=16),
        storage_mb=toml.integer("environment.storage_mb", 4096, minimum=1),
        gpus=toml.integer("environment.gpus", 0),
        allow_internet=toml.boolean("environment.allow_internet", False),
        config=data,
    )


#: File suffixes of the editable files and the language each is written in.
_LANGUAGES = {".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".rs": "rust",
              ".go": "go", ".py": "python", ".s": "assembly", ".asm": "assembly", ".json": "data",
              ".npz": "data", ".npy": "data", ".csv": "data"}  # fmt: skip


def attempt_name(name: str, attempt: int) -> str:
    """``name`` for a single attempt (0), ``name@k`` for attempt k of several."""
    return f"{name}@{attempt}" if attempt else name


def task_languages(task: Task) -> list[str]:
    """The languages of the files an agent may change (from their suffixes), in order of appearance."""
    found = [_LANGUAGES.get(Path(rel).suffix.lower()) for rel in task.editable]
    return list(dict.fromkeys(lang for lang in found if lang)) or ["other"]


def pristine_module(verifier_file: str | Path, relpath: str) -> ModuleType:
    """A module of the task's pristine ``environment/`` (``relpath`` in it), imported here in the
    verifier's trusted process: the rules, a reference or a trainer the verifier checks with,
    never the sandbox's copy that the agent may have changed.

    ``verifier_file`` is the verifier module's ``__file__``. The module is imported once, under a
    name made of the task folder's name and ``relpath`` (no other module collides with it), and
    is in ``sys.modules`` while it runs (dataclasses look their module up there).
    """
    task_dir = Path(verifier_file).resolve().parent
    path = task_dir / "environment" / relpath
    name = "_autolab_" + re.sub(r"\W", "_", f"{task_dir.name}_{relpath.removesuffix('.py')}")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
