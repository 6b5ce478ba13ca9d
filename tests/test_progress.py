"""Live progress lines from a run directory's files (progress.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pytest_autolab.progress import ProgressWatcher, clock_text


def test_clock_text_reads_like_a_clock() -> None:
    assert [clock_text(s) for s in (0, 59.9, 760, 3600, 3723)] == [
        "0:00",
        "0:59",
        "12:40",
        "1:00:00",
        "1:02:03",
    ]


def test_a_task_is_followed_from_its_start_through_its_evaluations_to_its_result(tmp_path: Path) -> None:
    now = [1000.0]
    lines: list[str] = []
    watcher = ProgressWatcher(tmp_path, lines.append, heartbeat_s=60, clock=lambda: now[0])
    folder = tmp_path / "flash_attention"
    folder.mkdir()
    assert watcher.poll() == []
    progress = {"task": "flash_attention", "started": 1000.0, "budget_s": 3600, "max_evaluations": 50}
    (folder / "progress.json").write_text(json.dumps(progress))
    assert watcher.poll() == ["autolab: flash_attention started (budget 1:00:00, 50 evaluations)"]
    ledger = folder / "ledger.jsonl"
    with ledger.open("a") as f:
        f.write(json.dumps({"t_s": 30, "status": "scored", "correct": True, "n": 0.62}) + "\n")
        f.write(json.dumps({"t_s": 60, "status": "incorrect", "correct": False, "n": None}) + "\n")
        f.write('{"t_s": 90, "status": "sco')  # half a line: read at the next poll
    now[0] = 1760.0
    assert watcher.poll() == [
        "autolab: flash_attention  12:40/1:00:00  evals 2/50  best n 0.62  last: incorrect"
    ]
    assert watcher.poll() == []  # no news, no line
    now[0] = 1830.0
    assert watcher.poll() == [
        "autolab: flash_attention  13:50/1:00:00  evals 2/50  best n 0.62  last: incorrect"
    ]
    with ledger.open("a") as f:
        f.write('red", "correct": true, "n": 0.7}\n')
    result = folder / "result.json"
    result.write_text(json.dumps({"status": "scored", "n": 0.71, "reward": 0.355}))
    stamp = (folder / "progress.json").stat().st_mtime
    os.utime(result, (stamp + 1, stamp + 1))
    assert watcher.poll() == [
        "autolab: flash_attention  13:50/1:00:00  evals 3/50  best n 0.7  last: scored, n 0.7",
        "autolab: flash_attention finished: scored, n 0.71, reward 0.355, 3 evaluations",
    ]
    now[0] = 9999.0
    assert watcher.poll() == []
    assert lines[0].endswith("started (budget 1:00:00, 50 evaluations)")


def test_a_result_older_than_the_loop_is_not_its_end(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"status": "incomplete"}))
    os.utime(folder / "result.json", (1, 1))  # an earlier, unfinished run's result (resume)
    (folder / "progress.json").write_text(json.dumps({"task": "toy", "started": 0, "budget_s": 60}))
    watcher = ProgressWatcher(tmp_path, lambda _: None, clock=lambda: 5.0)
    assert watcher.poll() == ["autolab: toy started (budget 1:00, 0 evaluations)"]
    assert not watcher.tasks["toy"].finished
