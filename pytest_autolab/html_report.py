"""``autolab report --html``: one self-contained HTML file, readable offline.

Plots are inline SVG written here (no plotting library, no script, no network): the overall and
per-axis rewards, per task the best-so-far curve of n over the agent's time with every evaluation
marked (improvement, recovery, correct without gain, failed), and with several agents a
comparison table agent x task and a bar chart per axis.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .report import HARNESS_FAILURES, RunGroup, _num, comparison, summarize
from .results import TaskResult
from .tasks import AXES

__all__ = ["evaluation_marks", "render_html"]

#: Colours of the series (agents) and of the evaluation marks.
PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#65a30d", "#db2777"]
MARK_COLOURS = {"improvement": "#059669", "recovery": "#2563eb", "correct": "#9ca3af", "failed": "#dc2626"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px;
       color: #111827; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #e5e7eb; }
h3 { font-size: 15px; margin: 20px 0 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { background: #f9fafb; }
.status-scored { color: #047857; } .status-bad { color: #b91c1c; font-weight: 600; }
.muted { color: #6b7280; } .big { font-size: 28px; font-weight: 700; }
.cards { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-end; }
.task { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; margin-bottom: 12px; }
.task dl { display: grid; grid-template-columns: auto auto; gap: 2px 12px; margin: 0; }
.task dt { color: #6b7280; } .task dd { margin: 0; }
svg text { font: 11px system-ui, sans-serif; fill: #374151; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    return _num(value)


# --- the ledger --------------------------------------------------------------------------------


def read_ledger(folder: Path | None) -> list[dict[str, Any]]:
    """The evaluations of a task's ledger.jsonl (none if missing); unreadable lines are skipped."""
    if folder is None:
        return []
    try:
        lines = (folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("t_s"), (int, float)):
            entries.append(entry)
    return entries


def evaluation_marks(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each evaluation as a mark on the curve: ``{"t", "n", "level", "kind"}`` where kind is
    improvement, recovery (an improvement after a setback), correct (no gain) or failed; the
    same rules as the ledger's summary (an improvement beats the baseline's 0 and every
    earlier evaluation; a setback fails or falls below the best so far)."""
    level = 0.0
    setback = False
    marks = []
    for entry in entries:
        n = entry.get("n")
        scored = float(n) if entry.get("correct") and isinstance(n, (int, float)) else None
        if scored is not None and scored > level:
            kind = "recovery" if setback else "improvement"
            setback = False
            level = scored
        elif scored is None:
            kind, setback = "failed", True
        else:
            kind = "correct"
            if scored < level:
                setback = True
        marks.append({"t": float(entry["t_s"]), "n": scored, "level": level, "kind": kind,
                      "status": str(entry.get("status", ""))})  # fmt: skip
    return marks


# --- SVG -----------------------------------------------------------------------------------------


def curve_svg(
    result: TaskResult, entries: Sequence[Mapping[str, Any]], *, width: int = 520, height: int = 220
) -> str:
    """The best-so-far curve of n over the agent's time, with each evaluation marked."""
    marks = evaluation_marks(entries)
    budget = float(result.budget.get("time_s") or 0.0)
    t_max = max([budget, result.agent_time_s, *(float(m["t"]) for m in marks), 1.0])
    ns: list[float] = [float(m["n"]) for m in marks if m["n"] is not None]
    y_lo = min([0.0, *ns])
    y_hi = max([1.0, *ns]) * 1.08
    left, right, top, bottom = 44, 12, 12, 30
    pw, ph = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + pw * t / t_max

    def y(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    parts = [
        f'<svg class="curve" data-task="{_e(result.run_name)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="best n so far over time, {_e(result.run_name)}">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#e5e7eb"/>',
    ]
    for v, label in ((0.0, "0 baseline"), (1.0, "1 reference")):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#d1d5db" '
                     'stroke-dasharray="4 3"/>')  # fmt: skip
        parts.append(f'<text x="{left + pw - 4}" y="{y(v) - 3:.1f}" text-anchor="end">{label}</text>')
    for frac in (0.0, 0.5, 1.0):
        t = t_max * frac
        parts.append(f'<text x="{x(t):.1f}" y="{height - 12}" text-anchor="middle">{t:.0f}s</text>')
    parts.append(f'<text x="4" y="{top + 10}">n</text>')
    if budget:
        parts.append(
            f'<line x1="{x(budget):.1f}" x2="{x(budget):.1f}" y1="{top}" y2="{top + ph}" stroke="#9ca3af"/>'
        )
    # The step curve: 0 from the start, then the best n so far after each evaluation.
    points = [(0.0, 0.0)]
    for m in marks:
        points.append((m["t"], points[-1][1]))
        points.append((m["t"], m["level"]))
    points.append((max(result.agent_time_s, points[-1][0]), points[-1][1]))
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts.append(f'<polyline class="best" points="{path}" fill="none" stroke="#111827" stroke-width="2"/>')
    for m in marks:
        colour = MARK_COLOURS[m["kind"]]
        title = f"<title>{m['t']:.0f}s: {_e(m['status'])}, n {_fmt(m['n'])} ({m['kind']})</title>"
        if m["n"] is None:  # a failed evaluation: a cross on the baseline line
            cx, cy = x(m["t"]), y(y_lo)
            parts.append(f'<path class="mark {m["kind"]}" d="M{cx - 4:.1f},{cy - 4:.1f}l8,8m0,-8l-8,8" '
                         f'stroke="{colour}" stroke-width="2">{title}</path>')  # fmt: skip
        else:
            parts.append(f'<circle class="mark {m["kind"]}" cx="{x(m["t"]):.1f}" cy="{y(m["n"]):.1f}" r="4.5" '
                         f'fill="{colour}" stroke="#fff">{title}</circle>')  # fmt: skip
    if not marks:
        parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle">'
                     "no evaluations: the agent never called evaluate()</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(title: str, bars: Sequence[tuple[str, float, str]], *, width: int = 360) -> str:
    """Horizontal bars of rewards in [0, 1]: (label, value, colour)."""
    row, left = 22, 150
    height = 24 + row * len(bars)
    parts = [f'<svg class="bars" data-title="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(title)}">',
             f'<text x="0" y="12" font-weight="600">{_e(title)}</text>']  # fmt: skip
    scale = width - left - 50
    for i, (label, value, colour) in enumerate(bars):
        top = 20 + i * row
        w = max(0.0, min(1.0, value)) * scale
        parts.append(f'<text x="{left - 6}" y="{top + 13}" text-anchor="end">{_e(label[:24])}</text>')
        parts.append(f'<rect x="{left}" y="{top + 2}" width="{scale}" height="14" fill="#f3f4f6"/>')
        parts.append(
            f'<rect class="bar" x="{left}" y="{top + 2}" width="{w:.1f}" height="14" fill="{colour}"/>'
        )
        parts.append(f'<text x="{left + scale + 6}" y="{top + 13}">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- the page ------------------------------------------------------------------------------------


def _link(target: Path, base: Path | None, text: str) -> str:
    if not target.exists():
        return ""
    href = os.path.relpath(target, base) if base is not None else target.as_uri()
    return f'<a href="{_e(Path(href).as_posix())}">{_e(text)}</a>'


def _usage(result: TaskResult) -> dict[str, str]:
    usage = result.usage or {}
    out = {}
    if usage.get("turns") is not None:
        out["turns"] = str(usage["turns"])
    tokens = [usage.get(k) for k in ("input_tokens", "output_tokens")]
    if any(isinstance(t, (int, float)) for t in tokens):
        out["tokens"] = " / ".join(f"{int(t or 0):,}" for t in tokens) + " (in / out)"
    if isinstance(usage.get("cost_usd"), (int, float)):
        out["cost"] = f"${usage['cost_usd']:.2f}"
    return out


def _task_table(group: RunGroup, base: Path | None) -> str:
    head = ["task", "axis", "status", "metric", "baseline", "reference", "speedup", "n", "reward", "evals",
            "anytime", "time", "turns", "cost", "files"]  # fmt: skip
    rows = []
    for r in group.results:
        folder = group.folders.get(r.run_name)
        usage = _usage(r)
        status_class = "status-scored" if r.status == "scored" else "status-bad"
        links = ""
        if folder is not None:
            links = " ".join(filter(None, [_link(folder / "agent", base, "trajectory"),
                                           _link(folder / "submission", base, "submission"),
                                           _link(folder / "ledger.jsonl", base, "ledger")]))  # fmt: skip
        speedup = "-" if r.speedup is None else f"{_num(r.speedup, 2)}x"
        cells = [
            f'<td class="text"><a href="#{_e(_anchor(group, r.run_name))}">{_e(r.run_name)}</a></td>',
            f'<td class="text">{_e(r.axis)}</td>',
            f'<td class="text {status_class}" title="{_e(r.reason)}">{_e(r.status)}</td>',
            f"<td>{_e(_fmt(r.metric))} {_e(r.metric_name)}</td>",
            f"<td>{_e(_fmt(r.baseline))}</td>",
            f"<td>{_e(_fmt(r.reference))}</td>",
            f"<td>{_e(speedup)}</td>",
            f"<td>{_e(_fmt(r.n))}</td>",
            f"<td><b>{r.reward:.3f}</b></td>",
            f"<td>{r.evaluations}</td>",
            f"<td>{_e(_fmt(r.loop.get('anytime')))}</td>",
            f"<td>{r.agent_time_s + r.verify_time_s:.0f}s</td>",
            f"<td>{_e(usage.get('turns', '-'))}</td>",
            f"<td>{_e(usage.get('cost', '-'))}</td>",
            f'<td class="text">{links}</td>',
        ]
        rows.append(f'<tr data-task="{_e(r.run_name)}">' + "".join(cells) + "</tr>")
    return ('<table class="tasks"><thead><tr>'
            + "".join(f'<th class="text">{h}</th>' if h in ("axis", "status", "files") else f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")  # fmt: skip


def _anchor(group: RunGroup, task: str) -> str:
    return f"{group.label}-{task}".replace(" ", "_")


def _task_detail(group: RunGroup, r: TaskResult) -> str:
    entries = read_ledger(group.folders.get(r.run_name))
    facts = {
        "status": r.status,
        "n (final)": _fmt(r.n),
        "reward": f"{r.reward:.3f}",
        "best n (loop)": _fmt(r.loop.get("best_n")),
        "anytime": _fmt(r.loop.get("anytime")),
        "evaluations": f"{r.loop.get('evaluations', r.evaluations)} ({r.loop.get('correct', 0)} correct)",
        "improvements": str(r.loop.get("improvements", 0)),
        "setbacks": str(r.loop.get("setbacks", 0)),
        "recoveries": str(r.loop.get("recoveries", 0)),
        "agent time": f"{r.agent_time_s:.0f}s of {float(r.budget.get('time_s', 0)):.0f}s",
        **_usage(r),
    }
    if r.status != "scored" and r.reason:
        facts["reason"] = r.reason.splitlines()[0][:160]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    legend = " ".join(f'<span style="color:{c}">&#9679; {k}</span>' for k, c in MARK_COLOURS.items())
    return (f'<h3 id="{_e(_anchor(group, r.run_name))}">{_e(r.run_name)} <span class="muted">({_e(r.axis)}, '
            f'{_e(r.metric_name)})</span></h3><div class="task">'
            f'<div>{curve_svg(r, entries)}<div class="muted">{legend}</div></div><dl>{dl}</dl></div>')  # fmt: skip


def _comparison(groups: Sequence[RunGroup]) -> str:
    tasks, _, cells = comparison(groups)
    head = "<tr><th>agent</th>" + "".join(f"<th>{_e(t)}</th>" for t in tasks) + "<th>mean</th></tr>"
    rows = []
    for group in groups:
        tds = []
        for t in tasks:
            r = cells.get((group.label, t))
            tds.append("<td>-</td>" if r is None else f'<td title="{_e(r.status)}">{r.reward:.3f}</td>')
        mean = summarize(group.results)["mean_reward"]
        rows.append(
            f'<tr data-agent="{_e(group.label)}"><td>{_e(group.label)}</td>{"".join(tds)}<td><b>{mean:.3f}</b></td></tr>'
        )
    charts = []
    axes = [a for a in AXES if any(r.axis == a for g in groups for r in g.results)]
    for axis in ["all", *axes]:
        bars = []
        for i, group in enumerate(groups):
            summary = summarize(group.results)
            value = summary["mean_reward"] if axis == "all" else summary["mean_reward_by_axis"].get(axis)
            if value is not None:
                bars.append((group.label, float(value), PALETTE[i % len(PALETTE)]))
        charts.append(bars_svg(f"mean reward: {axis}", bars))
    return (f'<h2>Comparison</h2><table class="comparison"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
            f'</table><div class="cards">{"".join(charts)}</div>')  # fmt: skip


def render_html(groups: Sequence[RunGroup], notes: Sequence[str] = (), *, base: Path | None = None) -> str:
    """The whole report; ``base`` is the folder the file is written to (links are relative to it)."""
    body = ["<h1>pytest-autolab report</h1>",
            f'<p class="muted">{_e(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))}; '
            f'{len(groups)} agent(s), {sum(len(g.results) for g in groups)} task result(s)</p>']  # fmt: skip
    if len(groups) > 1:
        body.append(_comparison(groups))
    for i, group in enumerate(groups):
        summary = summarize(group.results)
        colour = PALETTE[i % len(PALETTE)]
        axes = [(a, v, colour) for a, v in summary["mean_reward_by_axis"].items()]
        failures = [r for r in group.results if r.status in HARNESS_FAILURES]
        body.append(f'<section class="group" data-agent="{_e(group.label)}"><h2>{_e(group.label)}</h2>')
        body.append(f'<div class="cards"><div><div class="muted">mean reward</div><div class="big overall">'
                    f'{summary["mean_reward"]:.3f}</div><div class="muted">over {summary["tasks"]} task(s)</div></div>'
                    f'{bars_svg("mean reward by axis", axes)}{bars_svg("reward by task", [(r.task, r.reward, colour) for r in group.results])}'
                    "</div>")  # fmt: skip
        if summary["attempts"]:
            st = summary["attempts"]
            per_task = "; ".join(f"{t} {v['mean']:.3f} ± {v['stderr']:.3f} (best {v['best']:.3f})"
                                 for t, v in st["tasks"].items())  # fmt: skip
            body.append(f'<p class="attempts">{st["k"]} attempts per task: mean reward {st["mean"]:.3f} ± '
                        f'{st["stderr"]:.3f} (standard error), best of {st["k"]} {st["best_of_k"]:.3f}. '
                        f"{_e(per_task)}</p>")  # fmt: skip
        if failures or group.not_run:
            lines = [f"{r.task}: {r.status}" for r in failures] + [f"{t}: not run" for t in group.not_run]
            body.append(f'<p class="status-bad">harness failures: {_e("; ".join(lines))}</p>')
        body.append(_task_table(group, base))
        body.extend(_task_detail(group, r) for r in group.results)
        body.append("</section>")
    if notes:
        body.append("<h2>What was merged</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>pytest-autolab report</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")  # fmt: skip
