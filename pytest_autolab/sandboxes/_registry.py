"""Choosing a backend by name: ``local``, ``docker`` or ``auto``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from ._base import LABEL_RUN, LABEL_SESSION, SandboxBackend, SandboxUnavailable

__all__ = ["BACKENDS", "get_backend"]

#: name -> "module:Class"; each class takes ``run_id`` and ``session``.
BACKENDS: dict[str, str] = {
    "local": "pytest_autolab.sandboxes.local:LocalBackend",
    "docker": "pytest_autolab.sandboxes.docker:DockerBackend",
}


def _load(name: str) -> Callable[..., SandboxBackend]:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def get_backend(
    name: str,
    *,
    run_id: str,
    session: str = "",
    notes: list[str] | None = None,
    hide: Sequence[Path] = (),
) -> SandboxBackend:
    """The backend called ``name``; ``auto`` is Docker where an engine answers and the base
    image exists or can be built, else local.

    Under ``auto`` the reason for falling back is appended to ``notes`` (one line),
    so the caller can show it once. ``hide``: folders the local backend keeps out of sight of
    its commands (the run directory). ``session``: unique to the pytest session (its
    workers included); it keeps the sandboxes of two sessions of the same run id apart.
    """
    if name == "auto":
        try:
            docker = get_backend("docker", run_id=run_id, session=session)
        except SandboxUnavailable as exc:
            if notes is not None:
                notes.append(f"no Docker engine answered ({exc}); using the local sandbox")
            return get_backend("local", run_id=run_id, session=session, hide=hide)
        # An engine that cannot get the base image would fail every task: not a backend
        # that can run (issue 7).
        why = getattr(docker, "unavailable_reason", lambda: None)()
        if why is None:
            return docker
        close = getattr(docker, "close", None)
        if callable(close):
            close()
        if notes is not None:
            notes.append(
                f"a Docker engine answers, but {why}; using the local sandbox. To use Docker, "
                "build the image once with `autolab image build` (needs debootstrap as root, "
                "or a registry)"
            )
        return get_backend("local", run_id=run_id, session=session, hide=hide)
    if name not in BACKENDS:
        known = ", ".join(["auto", *BACKENDS])
        raise SandboxUnavailable(f"unknown sandbox backend {name!r}: expected one of {known}")
    try:
        factory = _load(name)
    except ImportError as exc:
        raise SandboxUnavailable(f"the {name} backend cannot be imported: {exc}") from exc
    if name == "local":
        return factory(run_id=run_id, session=session, hide=hide)
    return factory(run_id=run_id, session=session)


def sweep_run(run_id: str, session: str = "") -> int:
    """Remove what any backend left for ``run_id`` in ``session`` (issue 14: never what
    another live session of the same run id owns); a backend that is absent is skipped."""
    labels = {LABEL_RUN: run_id, **({LABEL_SESSION: session} if session else {})}
    removed = 0
    for name in BACKENDS:
        try:
            backend = get_backend(name, run_id=run_id, session=session)
        except SandboxUnavailable:
            continue
        try:
            removed += backend.sweep(labels)
        except Exception:  # a sweep must never fail the session
            continue
        finally:
            backend.close()  # docker: its engine connection
    return removed
