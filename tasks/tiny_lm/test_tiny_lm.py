"""Verifier of the tiny_lm task.

The text comes from a generative source defined here (``Source``), whose structure is fixed by
the task (SOURCE_SEED): paragraphs of sentences of made-up words; each paragraph has a hidden
topic (a Markov chain from paragraph to paragraph) that favours its own words, and each word
favours a few successors. The training text in ``environment/data/`` is a sample from a public
stream; the text the model is scored on is a fresh sample of the same source drawn from
``submission.seed`` (hidden in the final verification). Because the words are separated by
spaces and periods, the text determines the token sequence, so the source's own probability of
the text is exact: a forward pass over the topics (``Source.bits``). That is the floor no model
can beat on average, reported next to the model's bits per character.

The run, in three steps:

1. **Calibration.** A fixed numpy + Python workload (``CALIBRATION``) is timed three times in
   the training sandbox, process CPU time; its median is one *unit*. The training budget is
   TRAIN_UNITS units and the scoring budget SCORE_UNITS units, so that the same work fits on a
   slow and on a fast machine.
2. **Training.** ``python3 -I run_lm.py train BUDGET model.bin`` in that sandbox, under the
   harness's timing wrapper (``timing.timed_run``): the CPU time of every process the command
   started is counted. The driver stops the process at the budget (RLIMIT_CPU); a tree that used
   more than the budget in total, or a model over MODEL_LIMIT bytes, fails.
3. **Scoring.** A fresh sandbox holds the pristine environment without ``data/``, train.py as
   submitted (read before training ran) and model.bin. ``run_lm.py score`` reads the hidden text
   and a nonce from a file, deletes it, makes itself unreadable to other processes and starts the
   submission's ``Predictor`` in a fresh interpreter (fork + exec: nothing of the text is in its
   memory). The driver then feeds the text one character at a time and reads back the full
   distribution over the alphabet for the next character, checks that every row is positive,
   finite and sums to 1, and writes the log-probabilities of the true characters. The predictor
   never holds a character before it has given its distribution for it. The driver's report
   carries the nonce, so a forged report is ignored.

The metric: the model's excess over the floor, relative to that of the bigram model the task
ships (trained here on the same training text, scored on the same hidden text)::

    relative_excess = (bpc - floor) / (bigram_bpc - floor)

1.0 for the shipped bigram, 0 at the floor; log-scaled (each halving of the excess counts the
same), clamped below at EXCESS_FLOOR.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import secrets
import shlex
import statistics
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from pytest_autolab import Submission, pristine_module
from pytest_autolab.timing import TimingError, timed_run

TASK_DIR = Path(__file__).resolve().parent

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
#: The source's structure is fixed by the task; only the sample differs between seeds.
SOURCE_SEED = 20261201
#: Seed and stream of the public texts in environment/data/ (train.txt, valid.txt).
DATA_SEED = 0
TRAIN_STREAM, VALID_STREAM, TEST_STREAM = 1, 3, 2
TRAIN_CHARS = 400_000
#: Scored text: whole paragraphs until at least this many characters.
TEST_CHARS = 30_000

# --- the source ----------------------------------------------------------------------------------

N_TOPICS = 8
#: Short words every topic uses (Zipf), and content words, TOPIC_WORDS of them per topic.
N_FUNCTION = 40
N_CONTENT = 900
TOPIC_WORDS = 150
#: P(the sentence ends | a word), P(the paragraph ends | a sentence ended).
STOP = 0.11
PARAGRAPH = 0.2
#: A word after a word: BIGRAM * (the previous word's SUCCESSORS favourites) + the rest from the topic.
BIGRAM = 0.45
SUCCESSORS = 4
CONSONANTS = [*"bcdfghjklmnprstvwz", "ch", "sh", "th", "st", "tr", "br", "pl", "gr"]
VOWELS = [*"aeiou", "ai", "ea", "ou", "oo", "y"]


class Source:
    """The generative source: topic per paragraph (Markov), words from the topic and the
    previous word, rendered as ``word word word. word word.\\n`` (lower-case letters only)."""

    def __init__(self, seed: int = SOURCE_SEED) -> None:
        rng = np.random.default_rng([seed, 0])
        words: set[str] = set()
        while len(words) < N_FUNCTION + N_CONTENT:
            short = len(words) < N_FUNCTION
            k = int(rng.integers(1, 3)) if short else int(rng.integers(1, 5))
            w = "".join(
                CONSONANTS[rng.integers(len(CONSONANTS))] + VOWELS[rng.integers(len(VOWELS))]
                for _ in range(k)
            )
            if rng.random() < 0.35:
                w += CONSONANTS[rng.integers(len(CONSONANTS))]
            if len(w) >= 2 and (not short or len(w) <= 4):
                words.add(w)
        self.words = sorted(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        n = len(self.words)
        order = rng.permutation(n)
        function = [int(i) for i in order if len(self.words[i]) <= 4][:N_FUNCTION]
        taken = set(function)
        content = [int(i) for i in order if int(i) not in taken]
        topic = np.zeros((N_TOPICS, n))
        zipf = 1.0 / np.arange(1, N_FUNCTION + 1)
        for z in range(N_TOPICS):
            topic[z, function] = zipf[rng.permutation(N_FUNCTION)]
            own = rng.choice(content, TOPIC_WORDS, replace=False)
            topic[z, own] += 2.5 / np.arange(1, TOPIC_WORDS + 1) ** 0.9
        #: (topic, word): the topic's word distribution.
        self.topic = topic / topic.sum(axis=1, keepdims=True)
        successors = np.zeros((n, n))
        for w in range(n):
            successors[w, rng.choice(n, SUCCESSORS, replace=False)] = rng.dirichlet(np.ones(SUCCESSORS))
        #: (word, word): the favourite successors of each word.
        self.successors = successors
        transition = np.full((N_TOPICS, N_TOPICS), 0.02)
        for z in range(N_TOPICS):
            transition[z, rng.choice(N_TOPICS, 2, replace=False)] += 0.45
        #: (topic, topic): the next paragraph's topic.
        self.transition = transition / transition.sum(axis=1, keepdims=True)
        stationary = np.full(N_TOPICS, 1.0 / N_TOPICS)
        for _ in range(1000):
            stationary = stationary @ self.transition
        #: The first paragraph's topic.
        self.stationary = stationary / stationary.sum()

    def sample(self, rng: np.random.Generator, chars: int) -> str:
        """Whole paragraphs until at least ``chars`` characters."""
        out: list[str] = []
        total = 0
        z = int(rng.choice(N_TOPICS, p=self.stationary))
        while total < chars:
            sentences = []
            while True:
                words, prev = [], -1
                while True:
                    p = (
                        self.topic[z]
                        if prev < 0
                        else BIGRAM * self.successors[prev] + (1 - BIGRAM) * self.topic[z]
                    )
                    prev = int(rng.choice(len(p), p=p))
                    words.append(self.words[prev])
                    if rng.random() < STOP:
                        break
                sentences.append(" ".join(words) + ".")
                if rng.random() < PARAGRAPH:
                    break
            paragraph = " ".join(sentences) + "\n"
            out.append(paragraph)
            total += len(paragraph)
            z = int(rng.choice(N_TOPICS, p=self.transition[z]))
        return "".join(out)

    def token_bits(self, text: str) -> list[float]:
        """-log2 P(token | everything before it) for every token of ``text`` (whole paragraphs
        from the stationary topic distribution), exact: a forward pass over the topics."""
        if not text.endswith("\n"):
            raise ValueError("the text must end at the end of a paragraph")
        out: list[float] = []
        prior = self.stationary
        for paragraph in text[:-1].split("\n"):
            alpha = prior.copy()
            sentences = paragraph.split(". ")
            for s, sentence in enumerate(sentences):
                prev = -1
                for k, word in enumerate(sentence.rstrip(".").split(" ")):
                    w = self.index[word]
                    if prev < 0:
                        like = self.topic[:, w].copy()
                    else:
                        like = (1 - STOP) * (
                            BIGRAM * self.successors[prev, w] + (1 - BIGRAM) * self.topic[:, w]
                        )
                    if s > 0 and k == 0:
                        like *= 1 - PARAGRAPH  # the sentence before did not end the paragraph
                    p = float(alpha @ like)
                    out.append(-math.log2(p))
                    alpha = alpha * like / p
                    prev = w
                out.append(-math.log2(STOP))  # the period
            out.append(-math.log2(PARAGRAPH))  # the newline
            prior = alpha @ self.transition
        return out

    def bits(self, text: str) -> float:
        """-log2 P(text) under the source."""
        return math.fsum(self.token_bits(text))


@cache
def source() -> Source:
    return Source()


def train_text() -> str:
    return source().sample(np.random.default_rng([DATA_SEED, TRAIN_STREAM]), TRAIN_CHARS)


def valid_text() -> str:
    return source().sample(np.random.default_rng([DATA_SEED, VALID_STREAM]), TEST_CHARS)


def test_text(seed: int) -> str:
    return source().sample(np.random.default_rng([seed, TEST_STREAM]), TEST_CHARS)


test_text.__test__ = False  # type: ignore[attr-defined]  # a generator, not a test

# --- the budget ----------------------------------------------------------------------------------

#: One unit: the median CPU time of this workload (the interpreter, numpy calls on small arrays as
#: a predictor makes them per character, elementwise numpy on large arrays), run three times in
#: the sandbox before training: about 0.1 s on the development machine, locally and in Docker.
#: No matrix products: their speed is the image's BLAS (the reference BLAS of Debian's numpy in
#: the Docker image, 15 times slower than OpenBLAS), a property of the task's environment that
#: the agent sees in its own sandbox, not of the machine.
CALIBRATION = r"""
import os
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import json, time
import numpy as np

def work():
    counts = {}
    for i in range(400_000):
        key = (i * 7919) % 4099
        counts[key] = counts.get(key, 0) + 1
    p, q = np.full(29, 1.0 / 29), np.arange(29.0)
    for _ in range(15_000):
        p = np.maximum(q - 0.75, 0.0) / 40.0 + 0.3 * p
        p = p / p.sum()
    a = np.random.default_rng(0).standard_normal(1 << 18).astype(np.float32)
    for _ in range(40):
        a = np.tanh(a * 0.9) + np.exp(-a * a) * 0.1
    return len(counts) + float(p[0]) + float(a[0])

work()  # warm-up: imports, page faults
times = []
for _ in range(3):
    start = time.process_time()
    work()
    times.append(time.process_time() - start)
print(json.dumps(times))
"""
#: Training budget in units (about 50 s of CPU on the development machine).
TRAIN_UNITS = 500
#: Scoring budget in units, for the whole hidden text (about 30 s).
SCORE_UNITS = 300
#: run_lm.py train's exit status when the CPU budget ran out (SIGXCPU).
OVER_BUDGET_EXIT = 3
#: The largest model.bin accepted.
MODEL_LIMIT = 8 * 1024 * 1024
#: Wall-clock backstops, far above the CPU budgets, so that a loaded machine does not fail an
#: honest run: multiples of the budget, plus start-up.
WALL_FACTOR = 4.0
WALL_SLACK_S = 30.0
#: A relative excess is clamped below at this (the log scale needs a positive metric; a model
#: this close to the source is scored as being at the floor).
EXCESS_FLOOR = 1e-3
#: Characters at the start of each paragraph, for the report: before the topic can be known.
PARAGRAPH_HEAD = 48


def unit_from(raw: str) -> float:
    """The calibration's output (three CPU times) as the unit: their median, in seconds."""
    times = json.loads(raw.strip().splitlines()[-1])
    if len(times) != 3 or not all(isinstance(t, float) and t > 0 for t in times):
        raise ValueError(f"unexpected calibration output {raw[-200:]!r}")
    return statistics.median(times)


# --- the scoring protocol ------------------------------------------------------------------------


def score_input(nonce: str, text: str) -> bytes:
    """The file run_lm.py score reads (then deletes): the nonce on the first line, then the text."""
    return f"{nonce}\n{text}".encode()


def parse_report(stdout: str, nonce: str) -> dict[str, Any]:
    """The driver's report: the last stdout line that is JSON carrying our nonce; anything a
    submission prints (or writes into the output) without the nonce is ignored."""
    for line in reversed(stdout.splitlines()):
        if nonce not in line:
            continue
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and report.get("nonce") == nonce:
            return report
    raise ValueError("the scoring driver wrote no report (it was killed, or crashed)")


def check_scores(raw: bytes, report: dict[str, Any], text: str) -> np.ndarray:
    """The per-position log2-probabilities the driver wrote, checked against its report."""
    if hashlib.sha256(raw).hexdigest() != report.get("sha256"):
        raise ValueError("scores.f64 is not the file the scoring driver wrote (it was changed)")
    logp = np.frombuffer(raw, dtype="<f8")
    if logp.size != len(text) or report.get("positions") != len(text):
        raise ValueError(f"{logp.size} positions scored, the text has {len(text)}")
    if not np.all(np.isfinite(logp)) or np.any(logp > 0):
        raise ValueError("the log-probabilities are not finite and <= 0")
    return logp


def relative_excess(bpc: float, floor: float, bigram_bpc: float) -> float:
    """The metric: the model's excess over the floor over the shipped bigram's, clamped below."""
    if not bigram_bpc > floor:
        raise ValueError(f"the bigram ({bigram_bpc}) must be above the floor ({floor})")
    return max((bpc - floor) / (bigram_bpc - floor), EXCESS_FLOOR)


def paragraph_heads(text: str) -> np.ndarray:
    """True at the first PARAGRAPH_HEAD characters of every paragraph."""
    head = np.zeros(len(text), dtype=bool)
    start = 0
    for paragraph in text.split("\n")[:-1]:
        head[start : start + min(PARAGRAPH_HEAD, len(paragraph) + 1)] = True
        start += len(paragraph) + 1
    return head


def load_shipped() -> ModuleType:
    """The shipped bigram (environment/train.py, this task folder's pristine copy)."""
    return pristine_module(__file__, "train.py")


def bigram_log2probs(text: str) -> np.ndarray:
    """The shipped bigram, trained here on the public training text, on ``text``."""
    shipped = load_shipped()
    data = (TASK_DIR / "environment" / "data" / "train.txt").read_text()
    predictor = shipped.Predictor(shipped.train(data, 0.0))
    out = np.empty(len(text))
    for i, c in enumerate(text):
        out[i] = math.log2(float(predictor.probs()[ALPHABET.index(c)]))
        predictor.observe(ALPHABET.index(c))
    return out


# --- fixtures ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Training:
    unit_s: float
    budget_s: float
    cpu_s: float
    wall_s: float
    model: bytes | None
    problem: str | None


@pytest.fixture(scope="module")
def source_file(submission: Submission) -> bytes:
    """train.py as submitted, read before any of it runs: the scoring sandbox gets this copy."""
    return submission.read_file("train.py")


def run_training(submission: Submission, units: int = TRAIN_UNITS) -> Training:
    """Calibrate, then train within ``units`` units, counting every process the training starts."""
    calibration = submission.exec(f"python3 -I -c {shlex.quote(CALIBRATION)}", timeout=120)
    assert calibration.ok, f"the calibration failed: {calibration.describe()}\n{calibration.output[-2000:]}"
    unit = unit_from(calibration.stdout)
    budget = units * unit
    submission.exec("rm -f model.bin", timeout=30)
    command = f"python3 -I run_lm.py train {budget:.3f} model.bin"
    try:
        result, report = timed_run(submission.sandbox, command, timeout=WALL_FACTOR * budget + WALL_SLACK_S)
    except TimingError:
        wall = WALL_FACTOR * budget + WALL_SLACK_S
        return Training(
            unit,
            budget,
            math.inf,
            math.inf,
            None,
            f"training ran past the wall-clock backstop ({wall:.0f} s)",
        )
    cpu, wall = float(report["cpu_s"]), float(report["wall_s"])
    problem = None
    if result.exit_code in (OVER_BUDGET_EXIT, 128 + 24, 128 + 9):
        problem = (
            f"training was stopped at its CPU budget of {budget:.1f} s ({units} units of {unit:.3f} s; "
            f"{cpu:.1f} s counted over all its processes)"
        )
    elif cpu > budget:
        problem = (
            f"training used {cpu:.1f} s of CPU over all its processes ({cpu / unit:.0f} units): "
            f"the budget is {budget:.1f} s ({units} units of {unit:.3f} s)"
        )
    elif report.get("stragglers"):
        problem = f"training left {report['stragglers']} process(es) running after it exited"
    elif not result.ok:
        problem = f"training failed ({result.describe()}):\n{result.output[-3000:]}"
    model = None
    if problem is None:
        try:
            model = submission.read_file("model.bin")
        except Exception as exc:
            problem = f"training wrote no model.bin: {exc}"
        else:
            if len(model) > MODEL_LIMIT:
                problem = f"model.bin has {len(model)} bytes: at most {MODEL_LIMIT} are accepted"
                model = None
    return Training(unit, budget, cpu, wall, model, problem)


@pytest.fixture(scope="module")
def training(submission: Submission, source_file: bytes) -> Training:
    return run_training(submission)


@pytest.fixture(scope="module")
def text(submission: Submission) -> str:
    return test_text(submission.seed)


@pytest.fixture(scope="module")
def scoring(submission: Submission, source_file: bytes, training: Training, text: str) -> dict[str, Any]:
    """Score the model on the hidden text in a fresh sandbox (without data/)."""
    if training.model is None:
        pytest.fail(f"no model to score: {training.problem}", pytrace=False)
    nonce = secrets.token_hex(16)
    budget = SCORE_UNITS * training.unit_s
    fresh = submission.fresh(
        {"train.py": source_file, "model.bin": training.model, "hidden.txt": score_input(nonce, text)}
    )
    try:
        fresh.exec("rm -rf data", timeout=30)
        result = fresh.exec(
            f"exec python3 -I run_lm.py score model.bin hidden.txt {budget:.3f}",
            timeout=WALL_FACTOR * budget + WALL_SLACK_S,
        )
        try:
            report = parse_report(result.stdout, nonce)
        except ValueError as exc:
            pytest.fail(f"{exc}: {result.describe()}\n{result.output[-3000:]}", pytrace=False)
        report["budget_s"] = budget
        report["stderr"] = result.stderr[-3000:]
        if report.get("error") is None:
            report["logp"] = check_scores(fresh.read_file("scores.f64"), report, text)
        return report
    finally:
        fresh.close()


# --- tests (the metric test comes last) ----------------------------------------------------------


def test_training_within_budget(training: Training) -> None:
    """train.train runs within TRAIN_UNITS calibrated units of CPU and writes a model small enough."""
    assert training.problem is None, training.problem


def test_predictions_are_distributions(scoring: dict[str, Any]) -> None:
    """Every row the Predictor gave is positive, finite and sums to 1, within the scoring budget."""
    assert scoring.get("error") is None, f"scoring failed: {scoring['error']}\n{scoring['stderr']}"
    assert scoring["cpu_s"] <= scoring["budget_s"], (
        f"scoring used {scoring['cpu_s']:.1f} s of CPU, the budget is {scoring['budget_s']:.1f} s ({SCORE_UNITS} units)"
    )


def test_bits_per_character(text: str, training: Training, scoring: dict[str, Any], record_metric) -> None:
    """The metric: (bpc - floor) / (bigram bpc - floor) on the hidden text."""
    logp = scoring["logp"]
    floor = source().bits(text) / len(text)
    bigram = bigram_log2probs(text)
    bpc = -float(logp.sum()) / len(text)
    bigram_bpc = -float(bigram.sum()) / len(text)
    head = paragraph_heads(text)
    details = {
        "bpc": round(bpc, 5),
        "floor_bpc": round(floor, 5),
        "bigram_bpc": round(bigram_bpc, 5),
        "bpc_paragraph_heads": round(-float(logp[head].mean()), 4),
        "bpc_paragraph_rest": round(-float(logp[~head].mean()), 4),
        "characters": len(text),
        "unit_s": round(training.unit_s, 4),
        "train_cpu_s": round(training.cpu_s, 2),
        "train_units": round(training.cpu_s / training.unit_s, 1),
        "train_budget_units": TRAIN_UNITS,
        "train_wall_s": round(training.wall_s, 2),
        "score_cpu_s": round(scoring["cpu_s"], 2),
        "score_units": round(scoring["cpu_s"] / training.unit_s, 1),
        "score_budget_units": SCORE_UNITS,
        "model_bytes": len(training.model or b""),
    }
    print(f"tiny_lm: {details}")
    record_metric(relative_excess(bpc, floor, bigram_bpc), details=details)
