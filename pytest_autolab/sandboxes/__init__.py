"""Sandboxes: where untrusted code (the agent's program) runs.

Two backends behind one small interface::

    backend = get_backend("local")            # or "docker", or "auto"
    backend.prepare(task)                     # build or reuse the task image
    with backend.start(task, role="agent", labels={...}) as sandbox:
        result = sandbox.exec("make && ./attn", timeout=60)
        sandbox.write_files({"solve.py": b"..."})
        files = sandbox.snapshot(task.editable)   # hardened copy-out

Trusted code (verifiers, scoring) stays in the pytest process and talks to a
sandbox only through these calls.
"""

from __future__ import annotations

from ._base import (
    LABEL_EXPIRES,
    LABEL_OWNER,
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_SESSION,
    LABEL_TASK,
    STARTUP_SLACK_S,
    ExecResult,
    OutputCap,
    Sandbox,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
    SnapshotError,
    SnapshotLimits,
    cap_output,
    check_snapshot_path,
    head_and_tail,
)
from ._registry import BACKENDS, get_backend, sweep_run

__all__ = [
    "BACKENDS",
    "LABEL_EXPIRES",
    "LABEL_OWNER",
    "LABEL_ROLE",
    "LABEL_RUN",
    "LABEL_SESSION",
    "LABEL_TASK",
    "STARTUP_SLACK_S",
    "ExecResult",
    "OutputCap",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxUnavailable",
    "SnapshotError",
    "SnapshotLimits",
    "cap_output",
    "check_snapshot_path",
    "get_backend",
    "head_and_tail",
    "sweep_run",
]
