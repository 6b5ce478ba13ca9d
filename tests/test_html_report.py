"""The HTML report (autolab report --html): its parts, and how it renders in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_autolab.cli import main
from pytest_autolab.html_report import evaluation_marks

from .conftest import REPO, MakeTask
from .test_plugin import AGENTS


def test_each_evaluation_is_marked_as_the_ledger_counts_it() -> None:
    entries = [
        {"t_s": 1, "correct": True, "n": 0.4, "status": "scored"},
        {"t_s": 2, "correct": False, "n": None, "status": "incorrect"},
        {"t_s": 3, "correct": True, "n": 0.3, "status": "scored"},
        {"t_s": 4, "correct": True, "n": 0.9, "status": "scored"},
        {"t_s": 5, "correct": True, "n": 1.2, "status": "scored"},
    ]
    marks = evaluation_marks(entries)  # type: ignore[arg-type]  # a list literal of dicts
    assert [m["kind"] for m in marks] == ["improvement", "failed", "correct", "recovery", "improvement"]
    assert [m["level"] for m in marks] == [0.4, 0.4, 0.4, 0.9, 1.2]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium): the browser check needs it")


def _browser(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             f"--user-data-dir={cwd / 'profile'}", "--window-size=1280,1800"]  # fmt: skip
    return subprocess.run(
        [_chromium(), *flags, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_report_of_a_run_and_of_a_comparison_renders_in_headless_chromium(
    pytester: pytest.Pytester, make_task: MakeTask, tmp_path: Path
) -> None:
    # A run of a scripted agent (three evaluations: incorrect, halfway, the reference) and a run
    # of the oracle, on two tasks.
    (pytester.path / "scripted_agents.py").write_text(AGENTS)
    pytester.syspathinsert()
    make_task("alpha")
    make_task("beta", **{"autolab.scale": "linear"})
    runs = pytester.path / "runs"
    for name, agent in (("stepper", "scripted_agents:Stepper"), ("oracle", "oracle")):
        pytester.runpytest(
            "tasks", f"--autolab-agent={agent}", "--autolab-sandbox=local", f"--autolab-run-dir={runs / name}",
            "--autolab-progress=off",
        ).assert_outcomes(passed=6)  # fmt: skip
    pages = {"one-run": [runs / "stepper"], "comparison": [runs / "stepper", runs / "oracle"]}
    for which, dirs in pages.items():
        page = tmp_path / f"{which}.html"
        assert main(["report", *map(str, dirs), "--html", str(page)]) == 0
        text = page.read_text()
        assert text.count('<svg class="curve"') == 2 * len(dirs)
        assert len(re.findall(r'class="mark (failed|improvement|recovery|correct)"', text)) == 6
        assert "<script" not in text  # nothing to run, nothing to fetch: it works offline
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "trajectory</a>" in text
        assert ('<table class="comparison">' in text) == (which == "comparison")

    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the dev extra has it)")
    for which, dirs in pages.items():
        page = tmp_path / f"{which}.html"
        dom = _browser(["--dump-dom", page.as_uri()], tmp_path)
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        for task in ("alpha", "beta"):  # every task: a row and a curve, in every group
            assert html.count(f'<tr data-task="{task}">') == len(dirs)
            assert html.count(f'<svg class="curve" data-task="{task}"') == len(dirs)
        assert html.count('<section class="group"') == len(dirs)
        shot = tmp_path / f"{which}.png"
        done = _browser([f"--screenshot={shot}", page.as_uri()], tmp_path)
        assert shot.is_file(), done.stderr[-2000:]
        picture = image.open(shot).convert("RGB")
        assert picture.size == (1280, 1800)
        colours = picture.getcolors(maxcolors=1 << 22)
        assert colours is not None
        counts = {rgb: n for n, rgb in colours}
        # The plots are drawn: the blue bars, the green improvements and the red cross of the
        # failed evaluation are on screen in more than a speck each.
        assert counts.get((0x25, 0x63, 0xEB), 0) > 500, f"{which}: no bars"
        assert counts.get((0x05, 0x96, 0x69), 0) > 40, f"{which}: no improvement marks"
        assert counts.get((0xDC, 0x26, 0x26), 0) > 10, f"{which}: no failed-evaluation marks"
        if which == "comparison":
            assert counts.get((0xD9, 0x77, 0x06), 0) > 500, "no bars of the second agent"
        keep = REPO / ".autolab" / "screenshots"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / f"report-{which}.png")
