"""The experiment ledger: one JSON line per evaluate() call, with its snapshot.

It is the harness's own record of the agent's loop (propose, run, measure,
revise), written as the loop goes so that nothing is lost if the run dies::

    <run>/<task>/ledger.jsonl
    <run>/<task>/snapshots/<hash>/...      the files each evaluation saw

One line::

    {"index": 2, "t_s": 41.2, "elapsed_s": 3.9, "snapshot": "3f2a...", "status": "scored",
     "correct": true, "metric": 60.0, "n": 1.0, "reward": 1.0, "failure": ""}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import HiddenLoop, LoopStats, write_files
from .scoring import beats

if TYPE_CHECKING:
    from .evaluation import Evaluation

__all__ = ["Ledger", "snapshot_hash", "summarize_entries"]


def snapshot_hash(files: Mapping[str, bytes]) -> str:
    """A short content hash of a snapshot (names and bytes)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()[:16]


class Ledger:
    """Appends evaluations to ``ledger.jsonl`` and keeps each distinct snapshot."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "ledger.jsonl"
        self._lock = threading.Lock()
        #: The lines written so far, in order.
        self.entries: list[dict[str, Any]] = []

    def record(
        self, evaluation: Evaluation, files: Mapping[str, bytes], *, elapsed_s: float
    ) -> dict[str, Any]:
        """Append one evaluation; ``elapsed_s`` is the time since the start of the run, at its end."""
        digest = snapshot_hash(files)
        entry = {
            "index": 0,
            "t_s": round(elapsed_s, 3),
            "elapsed_s": round(evaluation.duration_s, 3),
            "snapshot": digest,
            "status": evaluation.status,
            "correct": evaluation.correct,
            "metric": evaluation.metric,
            "n": evaluation.n,
            "reward": evaluation.reward,
            "failure": evaluation.failure_digest(),
        }
        with self._lock:
            entry["index"] = len(self.entries)
            self.entries.append(entry)
            self._keep_snapshot(digest, files)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        return entry

    def _keep_snapshot(self, digest: str, files: Mapping[str, bytes]) -> None:
        # Written aside and renamed: a snapshot folder is complete or absent.
        snap = self.folder / "snapshots" / digest
        if snap.exists():
            return
        snap.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=snap.parent))
        try:
            write_files(tmp, files)
            os.replace(tmp, snap)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def snapshot_files(self, digest: str) -> dict[str, bytes]:
        """The files of a recorded snapshot."""
        root = self.folder / "snapshots" / digest
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def best_entry(self) -> dict[str, Any] | None:
        """The first correct evaluation with the highest n, or None."""
        with self._lock:
            return best_entry(self.entries)

    def summarize(self, budget_s: float, *, final_snapshot: str | None = None) -> LoopStats:
        """Loop statistics: see ``summarize_entries``."""
        with self._lock:
            return summarize_entries(list(self.entries), budget_s, final_snapshot=final_snapshot)


def _scored_n(entry: Mapping[str, Any]) -> float | None:
    """n of a correct evaluation that has one, else None."""
    n = entry.get("n")
    return float(n) if entry.get("correct") and isinstance(n, (int, float)) else None


def best_entry(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first correct evaluation with the highest n, or None."""
    best: Mapping[str, Any] | None = None
    for entry in entries:
        n = _scored_n(entry)
        if beats(n, None if best is None else best["n"]):
            best = entry
    return dict(best) if best is not None else None


def summarize_entries(
    entries: Sequence[Mapping[str, Any]], budget_s: float, *, final_snapshot: str | None = None
) -> LoopStats:
    """What the ledger says about the agent's loop.

    The starting program scores n = 0, so progress is measured from there:

    - ``improvements``: correct evaluations whose n beats both the baseline (0)
      and every earlier evaluation;
    - ``setbacks``: evaluations that failed (incorrect, no metric, error) or
      regressed (correct, but n below the best so far, or below the baseline);
    - ``recoveries``: improvements made after a setback since the previous
      improvement: the agent broke or worsened something and came back ahead;
    - ``best_curve``: ``[t_s, best n so far]`` after each evaluation (0 before any
      improvement);
    - ``time_to_best_s``: when the best n was first reached (None if no improvement);
    - ``anytime``: the area under that step curve over the budget, divided by the
      budget (time after the budget does not count). It is n reached early: 1.0 means
      reference level from the first second, 0.5 reference level from half-time;
      n above 1 counts in full, so it is not capped at 1;
    - ``best_n``, ``best_snapshot``: the best correct evaluation (it may be below 0);
    - ``final_snapshot``, ``final_n``: given the hash of the files the agent left,
      the n of the last evaluation of exactly those files (None if never evaluated).
    """
    best_n: float | None = None  # best n evaluated so far, any sign
    level = 0.0  # the curve: best n so far, floored at the baseline's 0
    improvements = recoveries = setbacks = 0
    curve: list[list[float]] = []
    time_to_best: float | None = None
    setback = False  # a setback since the previous improvement
    for entry in entries:
        n = _scored_n(entry)
        if n is not None and n > level:
            improvements += 1
            recoveries += setback
            setback = False
            time_to_best = float(entry["t_s"])
            level = n
        elif n is None or n < level:
            setbacks += 1
            setback = True
        if beats(n, best_n):
            best_n = n
        curve.append([float(entry["t_s"]), level])

    anytime = 0.0
    if budget_s > 0 and curve:
        ends = [t for t, _ in curve[1:]] + [budget_s]
        for (start, value), end in zip(curve, ends, strict=True):
            anytime += max(0.0, min(end, budget_s) - min(start, budget_s)) * value
        anytime /= budget_s

    best = best_entry(entries)
    final_n = None
    if final_snapshot is not None:
        evaluated = [e for e in entries if e.get("snapshot") == final_snapshot]
        final_n = _scored_n(evaluated[-1]) if evaluated else None
    return {
        "evaluations": len(entries),
        "correct": sum(1 for e in entries if e.get("correct")),
        "improvements": improvements,
        "setbacks": setbacks,
        "recoveries": recoveries,
        "best_n": best_n,
        "best_snapshot": best["snapshot"] if best else None,
        "time_to_best_s": time_to_best,
        "anytime": round(anytime, 6),
        "final_snapshot": final_snapshot,
        "final_n": final_n,
        "best_curve": curve,
    }


def improvement_entries(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations where the best-so-far curve rose (see ``summarize_entries``)."""
    level = 0.0
    points = []
    for entry in entries:
        n = _scored_n(entry)
        if n is not None and n > level:
            level = n
            points.append(dict(entry))
    return points


def hidden_curve(
    points: Sequence[Mapping[str, Any]], hidden_n: Mapping[str, float | None], budget_s: float
) -> HiddenLoop:
    """The loop's best-so-far figures with each improvement's n measured on the hidden seed.

    ``points`` are the improvements (``improvement_entries``), ``hidden_n`` their snapshot's n
    on the hidden seed (None: incorrect there, or not re-verified, which counts as no gain).
    A snapshot that only fits the public inputs (a hard-coded answer) adds nothing here.
    """
    level = 0.0
    best: float | None = None
    curve: list[list[float]] = []
    for point in points:
        n = hidden_n.get(point["snapshot"])
        if n is not None:
            best = n if best is None else max(best, n)
            level = max(level, n)
        curve.append([float(point["t_s"]), level])
    anytime = 0.0
    if budget_s > 0 and curve:
        ends = [t for t, _ in curve[1:]] + [budget_s]
        for (start, value), end in zip(curve, ends, strict=True):
            anytime += max(0.0, min(end, budget_s) - min(start, budget_s)) * value
        anytime /= budget_s
    return {"best_n": best, "anytime": round(anytime, 6)}
