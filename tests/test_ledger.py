"""The experiment ledger: what it writes, and the loop statistics it gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_autolab.evaluation import Evaluation
from pytest_autolab.ledger import Ledger, best_entry, snapshot_hash, summarize_entries


def scored(n: float, metric: float = 1.0) -> Evaluation:
    return Evaluation("scored", True, metric, n, max(0.0, min(1.0, n)), [], "", 0.5)


def failed(message: str = "test_sorts: 3 inputs unsorted\nmore") -> Evaluation:
    return Evaluation("incorrect", False, None, None, 0.0, [message], "", 0.5)


def entry(t: float, n: float | None) -> dict[str, Any]:
    """A ledger line at ``t`` seconds: n=None is a failed evaluation."""
    return {"t_s": t, "correct": n is not None, "n": n, "snapshot": f"s{t:g}"}


# --- what is written ----------------------------------------------------------------------------


def test_each_evaluation_is_one_json_line_with_its_snapshot(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    first = ledger.record(failed(), {"solve.py": b"broken"}, elapsed_s=12.3456)
    ledger.record(scored(0.85, 63), {"solve.py": b"63"}, elapsed_s=40.0)
    ledger.record(scored(0.85, 63), {"solve.py": b"63"}, elapsed_s=50.0)  # same files again

    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert lines[0] == first
    assert first == {
        "index": 0, "t_s": 12.346, "elapsed_s": 0.5, "snapshot": snapshot_hash({"solve.py": b"broken"}),
        "status": "incorrect", "correct": False, "metric": None, "n": None, "reward": 0.0,
        "failure": "test_sorts: 3 inputs unsorted",
    }  # fmt: skip
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert lines[1]["snapshot"] == lines[2]["snapshot"]
    snapshots = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert snapshots == sorted({lines[0]["snapshot"], lines[1]["snapshot"]})
    assert ledger.snapshot_files(lines[1]["snapshot"]) == {"solve.py": b"63"}


def test_snapshot_hash_depends_on_names_and_bytes() -> None:
    assert snapshot_hash({"a": b"1", "b": b"2"}) == snapshot_hash({"b": b"2", "a": b"1"})
    assert snapshot_hash({"a": b"1"}) != snapshot_hash({"b": b"1"})
    assert snapshot_hash({"a": b"1"}) != snapshot_hash({"a": b"2"})


def test_nested_snapshot_files_come_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    files = {"src/kernel.c": b"int x;", "Makefile": b"all:"}
    digest = ledger.record(scored(0.1), files, elapsed_s=1)["snapshot"]
    assert ledger.snapshot_files(digest) == files
    assert not [p for p in (tmp_path / "snapshots").iterdir() if p.name.startswith(".")]


# --- the statistics -------------------------------------------------------------------------------


def test_the_issue_scenario_broken_then_63_then_60() -> None:
    entries = [entry(10, None), entry(40, 0.85), entry(70, 1.0)]
    loop = summarize_entries(entries, budget_s=100, final_snapshot="s70")
    assert (loop["evaluations"], loop["correct"], loop["improvements"], loop["setbacks"], loop["recoveries"]) == (
        3, 2, 2, 1, 1
    )  # fmt: skip
    assert loop["best_curve"] == [[10, 0.0], [40, 0.85], [70, 1.0]]
    assert (loop["best_n"], loop["best_snapshot"], loop["time_to_best_s"]) == (1.0, "s70", 70)
    # 0 until 40 s, 0.85 until 70 s, 1.0 until the end of the budget (100 s).
    assert loop["anytime"] == pytest.approx((30 * 0.85 + 30 * 1.0) / 100)
    assert loop["final_n"] == 1.0


def test_a_regression_then_an_improvement_is_a_recovery() -> None:
    loop = summarize_entries([entry(1, 0.5), entry(2, 0.3), entry(3, 0.6)], budget_s=10)
    assert (loop["improvements"], loop["setbacks"], loop["recoveries"]) == (2, 1, 1)


def test_a_failure_still_counts_after_an_evaluation_that_only_ties() -> None:
    loop = summarize_entries([entry(1, 0.5), entry(2, None), entry(3, 0.5), entry(4, 0.7)], budget_s=10)
    assert (loop["improvements"], loop["recoveries"]) == (2, 1)


def test_improvements_are_measured_from_the_baseline() -> None:
    # The untouched program (n = 0) is not an improvement; a correct but worse one is a setback.
    loop = summarize_entries([entry(1, 0.0), entry(2, -0.4), entry(3, 0.2)], budget_s=10)
    assert (loop["improvements"], loop["setbacks"], loop["recoveries"]) == (1, 1, 1)
    assert loop["best_curve"] == [[1, 0.0], [2, 0.0], [3, 0.2]]
    only_worse = summarize_entries([entry(1, -0.4)], budget_s=10)
    assert (only_worse["best_n"], only_worse["improvements"], only_worse["time_to_best_s"]) == (-0.4, 0, None)
    assert only_worse["anytime"] == 0.0


def test_anytime_counts_work_beyond_the_reference_and_ignores_time_past_the_budget() -> None:
    assert summarize_entries([entry(0, 2.0)], budget_s=10)["anytime"] == 2.0
    assert summarize_entries([entry(5, 1.0), entry(15, 2.0)], budget_s=10)["anytime"] == 0.5


def test_final_n_is_that_of_the_last_evaluation_of_the_final_files() -> None:
    entries = [entry(1, 0.5), entry(2, 0.9)]
    assert summarize_entries(entries, 10, final_snapshot="s1")["final_n"] == 0.5
    assert summarize_entries(entries, 10, final_snapshot="never-evaluated")["final_n"] is None
    assert summarize_entries(entries, 10)["final_snapshot"] is None


def test_an_empty_ledger() -> None:
    loop = summarize_entries([], budget_s=60)
    assert loop == {
        "evaluations": 0, "correct": 0, "improvements": 0, "setbacks": 0, "recoveries": 0, "best_n": None,
        "best_snapshot": None, "time_to_best_s": None, "anytime": 0.0, "final_snapshot": None,
        "final_n": None, "best_curve": [],
    }  # fmt: skip


def test_best_entry_is_the_first_to_reach_the_best(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(scored(0.5), {"f": b"a"}, elapsed_s=1)
    best = ledger.record(scored(0.9), {"f": b"b"}, elapsed_s=2)
    ledger.record(scored(0.9), {"f": b"c"}, elapsed_s=3)
    ledger.record(failed(), {"f": b"d"}, elapsed_s=4)
    assert ledger.best_entry() == best
    assert best_entry([]) is None


# --- properties -----------------------------------------------------------------------------------

N = st.one_of(st.none(), st.floats(min_value=-2, max_value=3, allow_nan=False))


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[dict[str, Any]], float]:
    times = sorted(draw(st.lists(st.floats(min_value=0, max_value=200, allow_nan=False), max_size=25)))
    entries = [entry(t, draw(N)) | {"snapshot": f"s{i}"} for i, t in enumerate(times)]
    budget = draw(st.floats(min_value=1, max_value=300, allow_nan=False))
    return entries, budget


@given(ledgers())
def test_statistics_are_consistent(case: tuple[list[dict[str, Any]], float]) -> None:
    entries, budget = case
    loop = summarize_entries(entries, budget)
    scores = [e["n"] for e in entries if e["correct"]]
    assert loop["evaluations"] == len(entries)
    assert loop["correct"] == len(scores)
    assert 0 <= loop["recoveries"] <= loop["improvements"] <= loop["correct"]
    assert loop["recoveries"] <= loop["setbacks"]
    assert loop["best_n"] == (max(scores) if scores else None)
    levels = [level for _, level in loop["best_curve"]]
    assert levels == sorted(levels)  # best so far never goes down
    assert all(level >= 0 for level in levels)
    assert levels[-1:] in ([], [max([0.0, *scores])])
    if loop["improvements"]:
        assert loop["time_to_best_s"] in [e["t_s"] for e in entries if e["n"] == loop["best_n"]]
    else:
        assert loop["time_to_best_s"] is None


@given(ledgers())
def test_anytime_is_the_area_under_the_best_so_far_curve(case: tuple[list[dict[str, Any]], float]) -> None:
    entries, budget = case
    loop = summarize_entries(entries, budget)
    # Integrate the step function on a fine grid: value at t is the level of the last
    # evaluation at or before t (0 before the first).
    steps = 4000
    area = 0.0
    for k in range(steps):
        t = (k + 0.5) * budget / steps
        level = 0.0
        for start, value in loop["best_curve"]:
            if start <= t:
                level = value
        area += level * budget / steps
    top = max([0.0, *(level for _, level in loop["best_curve"])])
    assert loop["anytime"] == pytest.approx(area / budget, abs=top * 2 * len(entries) / steps + 1e-6)
    assert 0.0 <= loop["anytime"] <= top + 1e-6  # anytime is rounded to 6 decimals


def test_the_hidden_curve_counts_only_what_holds_on_the_hidden_seed() -> None:
    from pytest_autolab.ledger import hidden_curve, improvement_entries

    entries = [
        {"t_s": 10.0, "snapshot": "a", "correct": True, "n": 0.5},
        {"t_s": 20.0, "snapshot": "b", "correct": False, "n": None},
        {"t_s": 30.0, "snapshot": "c", "correct": True, "n": 0.4},  # not an improvement
        {"t_s": 50.0, "snapshot": "d", "correct": True, "n": 1.0},  # the public answer, hard-coded
    ]
    points = improvement_entries(entries)
    assert [p["snapshot"] for p in points] == ["a", "d"]
    figures = hidden_curve(points, {"a": 0.5, "d": None}, budget_s=100.0)
    # 0.5 from t=10 to the end of the budget; the hard-coded answer adds nothing.
    assert figures == {"best_n": 0.5, "anytime": 0.45}
    assert hidden_curve(points, {}, budget_s=100.0) == {"best_n": None, "anytime": 0.0}
