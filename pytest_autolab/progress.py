"""Live progress of a run: a line per running task when something happens, also under ``-n N``.

The agent loop already appends each evaluation to ``<run>/<task>/ledger.jsonl``; the lab adds one
``progress.json`` when a loop starts (its budget and start time) and result.json when the task is
scored. The controller (or the only process) watches those files from a thread and prints::

    autolab: flash_attention started (budget 60:00, 50 evaluations)
    autolab: flash_attention  12:40/60:00  evals 7/50  best n 0.62  last: incorrect
    autolab: flash_attention finished: scored, n 0.71, reward 0.355, 12 evaluations

So the loop pays nothing beyond one small file at its start (the ledger is written anyway), and
the lines are plain text: the same on a terminal and in a CI log. A task with no news repeats its
line every ``heartbeat_s``, so a long evaluation is visibly alive.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PROGRESS_FILE", "ProgressWatcher", "clock_text"]

PROGRESS_FILE = "progress.json"


def clock_text(seconds: float) -> str:
    """12:40 (minutes:seconds), or 1:02:03 past an hour."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "-"


@dataclass
class _Task:
    name: str
    started: float
    budget_s: float
    max_evaluations: int
    stamp: float
    offset: int = 0
    evaluations: int = 0
    best_n: float | None = None
    last: str = ""
    finished: bool = False
    last_line_at: float = 0.0
    pending: list[str] = field(default_factory=list)


class ProgressWatcher:
    """Polls a run directory and writes progress lines; ``poll()`` is the whole logic (tested
    directly); ``start()`` runs it every ``interval_s`` in a daemon thread until ``stop()``."""

    def __init__(
        self,
        run_dir: Path,
        write: Callable[[str], None],
        *,
        interval_s: float = 2.0,
        heartbeat_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_dir = run_dir
        self.write = write
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.tasks: dict[str, _Task] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Seconds spent polling (for the overhead figure).
        self.busy_s = 0.0
        self.polls = 0

    def poll(self) -> list[str]:
        """Read what changed since the last poll; write and return the new lines."""
        started = time.perf_counter()
        lines: list[str] = []
        try:
            folders = sorted(p.parent for p in self.run_dir.glob(f"*/{PROGRESS_FILE}"))
        except OSError:
            folders = []
        now = self.clock()
        for folder in folders:
            lines.extend(self._poll_task(folder, now))
        for line in lines:
            self.write(line)
        self.busy_s += time.perf_counter() - started
        self.polls += 1
        return lines

    def _poll_task(self, folder: Path, now: float) -> list[str]:
        try:
            progress_path = folder / PROGRESS_FILE
            stamp = progress_path.stat().st_mtime
            task = self.tasks.get(folder.name)
            if task is None or task.stamp != stamp:  # a new loop (or a new attempt) started
                info = json.loads(progress_path.read_text(encoding="utf-8"))
                task = _Task(
                    name=str(info.get("task", folder.name)),
                    started=float(info.get("started", now)),
                    budget_s=float(info.get("budget_s", 0.0)),
                    max_evaluations=int(info.get("max_evaluations", 0)),
                    stamp=stamp,
                )
                self.tasks[folder.name] = task
                task.last_line_at = now
                budget = f"budget {clock_text(task.budget_s)}, {task.max_evaluations} evaluations"
                out = [f"autolab: {task.name} started ({budget})"]
            else:
                out = []
        except (OSError, ValueError, TypeError):
            return []
        if task.finished:
            return out
        news = self._read_ledger(folder, task)
        result = folder / "result.json"
        try:
            finished = result.stat().st_mtime >= task.stamp
        except OSError:
            finished = False
        if news or (now - task.last_line_at >= self.heartbeat_s and not finished):
            out.append(self._status_line(task, now))
            task.last_line_at = now
        if finished:
            try:
                data = json.loads(result.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return out  # being written: next poll
            task.finished = True
            out.append(
                f"autolab: {task.name} finished: {data.get('status', '?')}, n {_num(data.get('n'))}, "
                f"reward {_num(data.get('reward'))}, {task.evaluations} evaluations"
            )
        return out

    def _read_ledger(self, folder: Path, task: _Task) -> bool:
        """Read the ledger's new complete lines; True if there were any."""
        try:
            with (folder / "ledger.jsonl").open("rb") as handle:
                handle.seek(task.offset)
                chunk = handle.read()
        except OSError:
            return False
        end = chunk.rfind(b"\n")
        if end < 0:
            return False
        task.offset += end + 1
        news = False
        for raw in chunk[: end + 1].splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            news = True
            task.evaluations += 1
            n = entry.get("n")
            if (
                entry.get("correct")
                and isinstance(n, (int, float))
                and (task.best_n is None or n > task.best_n)
            ):
                task.best_n = float(n)
            status = str(entry.get("status", "?"))
            task.last = f"{status}, n {_num(n)}" if entry.get("correct") else status
        return news

    def _status_line(self, task: _Task, now: float) -> str:
        elapsed = clock_text(now - task.started)
        evals = f"evals {task.evaluations}/{task.max_evaluations}"
        best = f"best n {_num(task.best_n)}"
        last = f"  last: {task.last}" if task.last else ""
        return f"autolab: {task.name}  {elapsed}/{clock_text(task.budget_s)}  {evals}  {best}{last}"

    # -- the thread -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="autolab-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # progress is a convenience: never break the run over it
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.poll()  # the last lines (a task that finished since the previous poll)


def open_terminal_writer(config: Any) -> Callable[[str], None]:
    """A writer of whole lines to the real standard output, also while a test's output is
    captured (the loop runs inside a fixture): a duplicate of fd 1 taken with capture off.
    A line starts on a line of its own even where pytest's progress dots left one open."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            fd = os.dup(1)
    else:
        fd = os.dup(1)
    stream = os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=True)
    lock = threading.Lock()
    reporter = config.pluginmanager.getplugin("terminalreporter")
    tw = getattr(reporter, "_tw", None)
    seen = {"width": 0}

    def write(line: str) -> None:
        with lock:
            width = getattr(tw, "width_of_current_line", 0)
            # pytest wrote on the current line since our last line: start a new one.
            prefix = "\n" if width and width != seen["width"] else ""
            seen["width"] = width
            stream.write(prefix + line + "\n")
            stream.flush()

    write.stream = stream  # type: ignore[attr-defined]
    return write
