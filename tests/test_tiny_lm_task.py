"""The trusted parts of tasks/tiny_lm: the source's exact floor, the budget's calibration, and the
scoring driver's guarantees (full distributions, nothing of the text before its turn, no forged
report)."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pytest_autolab import Submission
from pytest_autolab.sandboxes.local import LocalBackend
from pytest_autolab.tasks import load_task

from .conftest import REPO, load_module

TASK = REPO / "tasks" / "tiny_lm"


@pytest.fixture(scope="module")
def verifier() -> ModuleType:
    return load_module(TASK / "test_tiny_lm.py", "_tiny_lm_verifier")


def test_floor_is_the_sources_probability_summed_over_topics(verifier: ModuleType) -> None:
    """The forward pass gives P(text) = sum over the paragraphs' topics of the path's probability."""
    source = verifier.source()
    rng = np.random.default_rng(5)
    text = source.sample(rng, 1)
    while text.count("\n") < 2:
        text = source.sample(rng, 200)
    first, second = text.split("\n")[:2]
    text = f"{first}\n{second}\n"

    def paragraph(words_text: str, z: int) -> float:
        p = 1.0
        for s, sentence in enumerate(words_text.split(". ")):
            prev = -1
            for word in sentence.rstrip(".").split(" "):
                w = source.index[word]
                if prev < 0:
                    q = source.topic[z, w] * ((1 - verifier.PARAGRAPH) if s else 1.0)
                else:
                    q = (1 - verifier.STOP) * (
                        verifier.BIGRAM * source.successors[prev, w]
                        + (1 - verifier.BIGRAM) * source.topic[z, w]
                    )
                p *= q
                prev = w
            p *= verifier.STOP
        return float(p * verifier.PARAGRAPH)

    total = sum(
        source.stationary[a] * paragraph(first, a) * source.transition[a, b] * paragraph(second, b)
        for a, b in itertools.product(range(verifier.N_TOPICS), repeat=2)
    )
    assert source.bits(text) == pytest.approx(-math.log2(total), rel=1e-9)


def test_text_is_whole_paragraphs_of_the_alphabet_and_depends_on_the_seed(verifier: ModuleType) -> None:
    text = verifier.test_text(7)
    assert len(text) >= verifier.TEST_CHARS
    assert text.endswith(".\n")
    assert set(text) <= set(verifier.ALPHABET)
    assert verifier.test_text(7) == text
    assert verifier.test_text(8) != text
    # the floor is well below the bigram: there is structure to find
    assert verifier.source().bits(text) / len(text) < 1.0


def test_shipped_data_are_the_public_streams(verifier: ModuleType) -> None:
    data = TASK / "environment" / "data"
    assert (data / "train.txt").read_text() == verifier.train_text()
    assert (data / "valid.txt").read_text() == verifier.valid_text()
    assert verifier.test_text(0) not in verifier.train_text()


def test_relative_excess_is_one_at_the_bigram_and_clamped_at_the_floor(verifier: ModuleType) -> None:
    assert verifier.relative_excess(3.0, 1.0, 3.0) == 1.0
    assert verifier.relative_excess(1.5, 1.0, 3.0) == 0.25
    assert verifier.relative_excess(0.99, 1.0, 3.0) == verifier.EXCESS_FLOOR
    with pytest.raises(ValueError, match="above the floor"):
        verifier.relative_excess(1.0, 2.0, 2.0)


def test_calibration_gives_a_unit(verifier: ModuleType) -> None:
    out = subprocess.run(
        [sys.executable, "-I", "-c", verifier.CALIBRATION],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    times = json.loads(out.stdout)
    assert len(times) == 3
    unit = verifier.unit_from(out.stdout)
    assert unit == sorted(times)[1]
    assert 0.01 < unit < 10
    with pytest.raises(ValueError, match="unexpected calibration output"):
        verifier.unit_from("[1.0, 2.0]")


def test_report_needs_the_nonce(verifier: ModuleType) -> None:
    forged = json.dumps({"nonce": "guess", "positions": 3, "error": None})
    real = json.dumps({"nonce": "n0nce", "positions": 3, "error": None})
    assert verifier.parse_report(f"{real}\n{forged}\nnoise n0nce\n", "n0nce")["nonce"] == "n0nce"
    with pytest.raises(ValueError, match="no report"):
        verifier.parse_report(forged, "n0nce")


# --- the drivers, run as the verifier runs them --------------------------------------------------

PREDICTORS = {
    "unnormalized": """
    def probs(self):
        return np.full(V, 2.0 / V)
""",
    "negative": """
    def probs(self):
        p = np.full(V, 1.0 / V)
        p[0] += 0.5
        p[1] -= 0.5
        return p
""",
    # records, at each probs() call, how many characters it has been given
    "causal": """
    def probs(self):
        self.calls = getattr(self, "calls", 0) + 1
        assert self.calls == self.seen + 1, (self.calls, self.seen)
        return np.full(V, 1.0 / V)

    def observe(self, c):
        self.seen = getattr(self, "seen", 0) + 1
""",
}


def app_with(tmp_path: Path, train_py: str) -> Path:
    app = tmp_path / "app"
    shutil.copytree(TASK / "environment", app, ignore=shutil.ignore_patterns("data", "__pycache__"))
    (app / "train.py").write_text(train_py)
    return app


def predictor_module(body: str) -> str:
    return (
        "import numpy as np\nV = 29\nseen = 0\n"
        "def train(text, budget_s):\n    return b''\n"
        "class Predictor:\n    seen = 0\n    def __init__(self, model):\n        pass\n"
        "    def observe(self, c):\n        pass\n" + body
    )


def run_score(app: Path, text: str, limit_s: float = 20.0) -> tuple[dict, subprocess.CompletedProcess[str]]:
    (app / "model.bin").write_bytes(b"")
    (app / "hidden.txt").write_bytes(b"n0nce\n" + text.encode())
    done = subprocess.run(
        [sys.executable, "-I", "run_lm.py", "score", "model.bin", "hidden.txt", str(limit_s)],
        cwd=app, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1]), done


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("unnormalized", "position 0: the distribution is not"),
        ("negative", "position 0: the distribution is not"),
    ],
)
def test_driver_rejects_what_is_not_a_distribution(tmp_path: Path, name: str, problem: str) -> None:
    app = app_with(tmp_path, predictor_module(PREDICTORS[name]))
    report, _ = run_score(app, "ab. c.\n")
    assert report["error"].startswith(problem)
    assert not (app / "scores.f64").exists()


def test_driver_asks_before_it_tells_and_deletes_the_text(verifier: ModuleType, tmp_path: Path) -> None:
    app = app_with(tmp_path, predictor_module(PREDICTORS["causal"]))
    text = "ab ba. c.\n"
    report, done = run_score(app, text)
    assert report["error"] is None, done.stderr
    assert not (app / "hidden.txt").exists()
    logp = verifier.check_scores((app / "scores.f64").read_bytes(), report, text)
    assert np.allclose(logp, -math.log2(29))
    with pytest.raises(ValueError, match="changed"):
        verifier.check_scores(b"\0" * 8 * len(text), report, text)


def test_predictor_cannot_reach_the_hidden_text(tmp_path: Path) -> None:
    """The peeking cheat searches the app dir, stdin, the environment and the driver's /proc
    files and memory: the driver deleted the input and is not dumpable, and the predictor has no
    capabilities, so it finds nothing. (Without the capabilities dropped, as root, the same cheat
    reads the text in the driver's memory and scores 0.05 bits per character.)"""
    cheat = (TASK / "validation" / "cheats" / "peeks_at_text" / "train.py").read_text()
    app = app_with(tmp_path, cheat)
    report, done = run_score(app, "ab ba. " * 400 + "c.\n")
    assert report["error"] is not None
    assert "the hidden text is nowhere the predictor can reach" in done.stderr


def test_training_is_stopped_at_the_cpu_budget(tmp_path: Path) -> None:
    app = app_with(tmp_path, "def train(text, budget_s):\n    while True:\n        pass\n")
    (app / "data").mkdir()
    (app / "data" / "train.txt").write_text("ab.\n")
    done = subprocess.run(
        [sys.executable, "-I", "run_lm.py", "train", "1", "model.bin"],
        cwd=app,
        timeout=60,
        capture_output=True,
    )
    # SIGXCPU at the budget: the driver exits with OVER_BUDGET_EXIT (SIGKILL a second later)
    assert done.returncode in (3, -9), done
    assert b"used up its CPU budget" in done.stderr
    assert not (app / "model.bin").exists()


#: train() hands the work to two processes that each use 70 % of the budget, then waits.
FORKING_TRAIN = """
import os, time


def train(text, budget_s):
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            end = time.process_time() + 0.7 * budget_s
            while time.process_time() < end:
                pass
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return b"model"
"""


def test_training_counts_the_cpu_of_every_process_it_starts(verifier: ModuleType) -> None:
    """Each process stays under the kernel's limit; their sum is over the budget: caught."""
    backend = LocalBackend(run_id="test-tiny-lm")
    try:
        with backend.start(load_task(TASK), role="verify", labels={}) as box:
            box.write_files({"train.py": FORKING_TRAIN.encode()})
            training = verifier.run_training(Submission(load_task(TASK), box, seed=1, hidden=True), units=15)
    finally:
        backend.sweep()
    assert training.model is None
    assert training.cpu_s > training.budget_s
    assert "over all its processes" in training.problem


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_reference_beats_the_bigram_on_a_short_text(verifier: ModuleType) -> None:
    """The reference's model, in-process, on the first paragraphs of a hidden text."""
    reference = load_module(TASK / "solution" / "train.py", "_tiny_lm_reference")
    text = verifier.test_text(11)
    text = text[: text.index("\n", 3000) + 1]
    predictor = reference.Predictor(reference.train(verifier.train_text(), 60.0))
    bits = 0.0
    for c in text:
        i = verifier.ALPHABET.index(c)
        p = predictor.probs()
        assert abs(p.sum() - 1) < 1e-9
        bits -= math.log2(p[i])
        predictor.observe(i)
    floor = verifier.source().bits(text) / len(text)
    bigram = -verifier.bigram_log2probs(text).mean()
    assert verifier.relative_excess(bits / len(text), floor, bigram) < 0.2
