"""The experiment ledger: one JSON line per evaluate() call, with its snapshot.

It is the harness's own record of the agent's loop (propose, run, measure,
revise), written as the loop goes so that nothing is lost if the run dies::

    <run>/<task>/ledger.jsonl
    <run>/<task>/snapshots/<hash>/...      the files each evaluation saw
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import write_files

if TYPE_CHECKING:
    from .evaluation import Evaluation

__all__ = ["Ledger", "snapshot_hash"]


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
        self.entries: list[dict[str, Any]] = []

    def record(self, evaluation: Evaluation, files: Mapping[str, bytes], *, elapsed_s: float) -> dict[str, Any]:
        digest = snapshot_hash(files)
        entry = {
            "index": len(self.entries),
            "t_s": round(elapsed_s, 3),
            "elapsed_s": round(evaluation.duration_s, 3),
            "snapshot": digest,
            "correct": evaluation.correct,
            "metric": evaluation.metric,
            "n": evaluation.n,
            "reward": evaluation.reward,
            "failure": evaluation.failure_digest(),
        }
        with self._lock:
            entry["index"] = len(self.entries)
            self.entries.append(entry)
            snap = self.folder / "snapshots" / digest
            if not snap.exists():
                write_files(snap, files)
            self.folder.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        return entry

    def snapshot_files(self, digest: str) -> dict[str, bytes]:
        """The files of a recorded snapshot."""
        root = self.folder / "snapshots" / digest
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def summarize(self, budget_s: float) -> dict[str, Any]:
        """Loop statistics: see ``summarize_entries``."""
        with self._lock:
            return summarize_entries(list(self.entries), budget_s)


def summarize_entries(entries: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    """What the ledger says about the agent's loop.

    - ``improvements``: correct evaluations that beat the best n so far;
    - ``recoveries``: correct improvements right after a failed or regressing evaluation;
    - ``best_curve``: [t_s, best n so far] at each evaluation;
    - ``time_to_best_s``: when the best n was first reached;
    - ``anytime``: area under the best-n-so-far curve (clipped to [0, 1]) over the
      budget, divided by the budget: 1.0 means reference-level from the first second.
    """
    best: float | None = None
    improvements = recoveries = 0
    curve: list[list[float]] = []
    time_to_best: float | None = None
    setback = False  # the previous evaluation failed or regressed
    for entry in entries:
        n = entry["n"] if entry["correct"] else None
        if n is not None and (best is None or n > best):
            improvements += 1
            if setback:
                recoveries += 1
            best = n
            time_to_best = entry["t_s"]
            setback = False
        elif n is None or (best is not None and n < best):
            setback = True
        curve.append([entry["t_s"], best if best is not None else 0.0])
    anytime = 0.0
    if budget_s > 0:
        for (t0, n0), (t1, _) in zip(curve, [*curve[1:], [budget_s, 0.0]], strict=False):
            span = max(0.0, min(t1, budget_s) - min(t0, budget_s))
            anytime += span * min(1.0, max(0.0, n0))
        anytime /= budget_s
    return {
        "evaluations": len(entries),
        "correct": sum(1 for e in entries if e["correct"]),
        "improvements": improvements,
        "recoveries": recoveries,
        "best_n": best,
        "time_to_best_s": time_to_best,
        "anytime": round(anytime, 6),
        "best_curve": curve,
    }
