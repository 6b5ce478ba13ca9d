"""Shared fixtures for the plugin's own tests: small task folders built on the fly."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy  # noqa: F401 - loaded once here: pytester's in-process runs cannot re-import it
import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def subprocesses_import_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes (runpytest_subprocess, evaluate()'s inner pytest) import pytest_autolab
    from this checkout, not from wherever the package is installed (another worktree)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


#: A verifier for the toy task: value.txt must hold an integer; the metric is that integer.
TOY_VERIFIER = """
def test_value_is_an_integer(submission):
    out = submission.exec("cat value.txt")
    assert out.ok, out.output
    int(out.stdout)


def test_value(submission, record_metric):
    record_metric(int(submission.read_file("value.txt")))
"""


def toy_toml(**overrides: Any) -> str:
    """A valid task.toml for the toy task; ``overrides`` replace "table.key" values."""
    values: dict[str, Any] = {
        "agent.timeout_sec": 60,
        "verifier.timeout_sec": 60,
        "environment.cpus": 1,
        "environment.memory_mb": 512,
        "optimization.metric": "value",
        "optimization.direction": "lower",
        "optimization.baseline.score": 100,
        "optimization.reference.score": 10,
        "autolab.axis": "smaller",
        "autolab.scale": "log",
        "autolab.editable": ["value.txt"],
        "autolab.max_evaluations": 5,
    }
    values.update(overrides)
    tables: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        if value is None:
            continue
        table, _, key = dotted.rpartition(".")
        tables.setdefault(table, {})[key] = value
    lines = ['version = "1.0"', "[metadata]", 'author_name = "tests"']
    for table, keys in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


#: The toy task's instruction.md.
TOY_INSTRUCTION = "Make the number in value.txt as small as you can.\n"


def write_task(
    root: Path,
    name: str,
    *,
    environment: Mapping[str, str | bytes],
    verifier: str = TOY_VERIFIER,
    solution: Mapping[str, str] | None = None,
    dockerfile: str | None = None,
    instruction: str = TOY_INSTRUCTION,
    executable: Collection[str] = (),
    toml: str | None = None,
    **toml_overrides: Any,
) -> Path:
    """Write ``root/tasks/<name>/`` and return that folder.

    task.toml is ``toml`` if given, else ``toy_toml(**toml_overrides)``; ``environment``
    (and ``solution``, if any) map relative paths to contents; ``executable`` names the
    environment files to mark 0o755; ``dockerfile`` becomes environment/Dockerfile.
    """
    folder = root / "tasks" / name
    files: dict[str, str | bytes] = {
        "task.toml": toml if toml is not None else toy_toml(**toml_overrides),
        "instruction.md": instruction,
        f"test_{name}.py": textwrap.dedent(verifier),
    }
    for rel, content in environment.items():
        files[f"environment/{rel}"] = content
    if dockerfile is not None:
        files["environment/Dockerfile"] = dockerfile
    for rel, content in (solution or {}).items():
        files[f"solution/{rel}"] = content
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for rel in executable:
        (folder / "environment" / rel).chmod(0o755)
    return folder


MakeTask = Callable[..., Path]


@pytest.fixture
def make_task(pytester: pytest.Pytester) -> MakeTask:
    """Create tasks/<name>/ in the pytester folder: the toy task unless told otherwise."""

    def make(
        name: str = "toy",
        *,
        toml: str | None = None,
        environment: Mapping[str, str] | None = None,
        solution: Mapping[str, str] | None = None,
        verifier: str = TOY_VERIFIER,
        **toml_overrides: Any,
    ) -> Path:
        return write_task(
            pytester.path,
            name,
            toml=toml,
            environment=environment or {"value.txt": "100\n"},
            solution=solution or {"value.txt": "10\n"},
            verifier=verifier,
            **toml_overrides,
        )

    return make


def load_module(path: Path, name: str) -> ModuleType:
    """A task's trusted Python (its verifier, interpreter or reference) imported from its file,
    once per session under ``name``; skips the test where the task is not in this checkout."""
    if name not in sys.modules:
        if not path.exists():
            pytest.skip(f"{path} is not in this checkout")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def read_summary(run_root: Path) -> dict[str, Any]:
    """summary.json of the only run under ``run_root/.autolab/runs``."""
    runs = sorted((run_root / ".autolab" / "runs").iterdir())
    assert len(runs) == 1, runs
    return json.loads((runs[0] / "summary.json").read_text())  # type: ignore[no-any-return]


def results_by_task(run_root: Path) -> dict[str, dict[str, Any]]:
    return {row["task"]: row for row in read_summary(run_root)["results"]}


def open_docker_backend(request: pytest.FixtureRequest, name: str) -> Any:
    """A DockerBackend for a test module, with the base image built (progress shown, since
    a cold build takes minutes); skips when no engine answers. The caller closes it."""
    import os
    import secrets

    from pytest_autolab.sandboxes import SandboxUnavailable
    from pytest_autolab.sandboxes.docker import DockerBackend

    capture = request.config.pluginmanager.get_plugin("capturemanager")
    assert capture is not None

    def progress(message: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"autolab: {message}", flush=True)

    try:
        backend = DockerBackend(
            run_id=f"{name}-{os.getpid()}-{secrets.token_hex(3)}", progress=lambda _: None
        )
    except SandboxUnavailable as exc:
        pytest.skip(f"no Docker engine answers: {exc}")
    # The code of `autolab image build`, with its progress on the terminal.
    backend.progress = progress
    backend.base_image()
    backend.progress = lambda _: None
    return backend
