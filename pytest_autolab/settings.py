"""The run's settings: what the controller decides once and every worker shares.

::

    settings = RunSettings(run_id="20260101-120000-a1b2c3", run_dir=Path(".autolab/runs/..."),
                           agent="claude", seed=1234567, ...)
    run_folder(runs, run_dir=None, resume=False)   -> a new folder under ``runs``
    run_seed(None, resume=True, run_dir=...)       -> the seed the earlier run recorded
    hidden_seed(settings.seed, task)               -> the seed of one task's hidden inputs
    write_run_json(settings)                       -> <run_dir>/run.json (config, versions, machine)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .measure import MODEL_CACHE
from .results import atomic_write_json

if TYPE_CHECKING:
    from .tasks import Task

__all__ = [
    "RunSettings",
    "SettingsError",
    "hidden_seed",
    "new_run_id",
    "redact_argv",
    "redact_options",
    "run_folder",
    "run_metadata",
    "run_seed",
    "write_run_json",
]


class SettingsError(ValueError):
    """The options name no valid run (the message says which and why)."""


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The run's configuration, the same on the controller and every worker."""

    #: Identifies the run (folder name, sandbox labels).
    run_id: str
    #: The run directory.
    run_dir: Path
    #: Agent name or module:Class.
    agent: str = "nop"
    #: Options for the agent's constructor.
    agent_options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: auto | local | docker.
    sandbox: str = "auto"
    #: Multiplies every task's time budget and evaluations.
    budget_scale: float = 1.0
    #: Seed the hidden seeds derive from.
    seed: int = 0
    #: Keep finished tasks of an earlier run in run_dir.
    resume: bool = False
    #: final | best: which files are scored.
    submit: str = "final"
    #: Unique to this pytest session (its workers and evaluate() children included): keeps
    #: its sandboxes apart from another live session of the same run id (issue 14).
    session: str = ""
    #: What the agent said of itself at the preflight: a CLI's path, origin and version.
    agent_details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["agent_options"] = dict(self.agent_options)
        data["agent_details"] = dict(self.agent_details)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSettings:
        return cls(**{**data, "run_dir": Path(data["run_dir"])})


# --- the run folder and the seed -----------------------------------------------------------------


def new_run_id() -> str:
    """A fresh run id: the local time and a few random hex digits."""
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run_folder(runs: Path, *, run_dir: str | None, resume: bool) -> Path:
    """The run directory: the one named, else the latest run under ``runs`` when resuming,
    else a new one there."""
    if run_dir:
        return Path(run_dir).resolve()
    if resume:
        earlier = sorted(p for p in runs.glob("*") if (p / "run.json").exists()) if runs.exists() else []
        if not earlier:
            raise SettingsError(
                f"--autolab-resume: no earlier run under {runs}; name one with --autolab-run-dir"
            )
        return earlier[-1]
    return runs / new_run_id()


def run_seed(seed: int | None, *, resume: bool, run_dir: Path) -> int:
    """The run's seed: the one given, else the resumed run's (from its run.json), else random."""
    if seed is None and resume:
        try:
            seed = json.loads((run_dir / "run.json").read_text())["settings"]["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            seed = None
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    return seed


def hidden_seed(run_seed: int, task: Task) -> int:
    """The seed of a task's hidden inputs: derived from the run's seed, never the public one."""
    # Each attempt (--autolab-attempts) has a seed stream of its own.
    key = f"{run_seed}:{task.name}" + (f":{task.attempt}" if task.attempt else "")
    digest = hashlib.sha256(key.encode()).digest()
    seed = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    return seed + 1 if seed == task.public_seed else seed


# --- run.json ------------------------------------------------------------------------------------

#: Option names whose values are credentials: never written anywhere (issue 7).
SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|credential|auth|cookie|private", re.IGNORECASE)
REDACTED = "<redacted>"


def redact_options(options: Mapping[str, str]) -> dict[str, str]:
    """Agent options with the values of credential-like keys (api_key, token, ...) replaced."""
    return {key: REDACTED if SECRET_NAME.search(key) else value for key, value in options.items()}


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with the values of credential-like ``--autolab-agent-option`` keys replaced."""
    out: list[str] = []
    after_option = False
    for arg in argv:
        prefix = ""
        value = arg
        if after_option:
            after_option = False
        elif arg.startswith("--autolab-agent-option="):
            prefix, value = "--autolab-agent-option=", arg[len("--autolab-agent-option=") :]
        elif arg == "--autolab-agent-option":
            after_option = True
            out.append(arg)
            continue
        else:
            out.append(arg)
            continue
        key, sep, _ = value.partition("=")
        out.append(f"{prefix}{key}={REDACTED}" if sep and SECRET_NAME.search(key) else arg)
    return out


def run_metadata(settings: RunSettings) -> dict[str, Any]:
    """run.json: the configuration, versions and machine of a run."""
    import importlib.metadata as md

    versions = {"pytest-autolab": __version__, "python": platform.python_version()}
    for dist in ("pytest", "pytest-xdist", "pytest-timeout", "hypothesis", "numpy", "docker"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    config = settings.to_json()
    config["agent_options"] = redact_options(settings.agent_options)
    agent = config.pop("agent_details")
    return {
        "run_id": settings.run_id,
        "settings": config,
        # The agent as it described itself (a CLI agent: which binary, found where, what version).
        "agent": {"name": settings.agent, **agent},
        "versions": versions,
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "hostname": platform.node(),
        },
        "argv": redact_argv(sys.argv),
        # The one model machine that every simulated cycle count of the run is counted on.
        "cache_model": MODEL_CACHE.to_json(),
    }


def write_run_json(settings: RunSettings, *, finished: bool = False) -> None:
    """Write run.json: up front (once, so that an interrupted run can be found and resumed),
    and again with ``finished_at`` when the session ends."""
    path = settings.run_dir / "run.json"
    if not finished and path.exists():
        return
    metadata = run_metadata(settings)
    if finished:
        metadata["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_json(path, metadata)
