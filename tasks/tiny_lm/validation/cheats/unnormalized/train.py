"""Cheat: the reference's predictions with the top character's probability raised to 0.9 and
nothing renormalised: the rows sum to more than 1, so it "saves" bits it never paid for."""

from __future__ import annotations

import json
import zlib
from collections import Counter

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
INDEX = {c: i for i, c in enumerate(ALPHABET)}
ORDER = 6
TOPICS = 8
DISCOUNT = 0.75
#: Weight of the topic mixture against the global model.
MIX = 0.5
EM_ITERATIONS = 40
EM_RESTARTS = 3
#: Likelihood of a word never seen in training, under every topic (it says nothing).
UNKNOWN_WORD = 1e-4


def count_ngrams(text: str, order: int) -> tuple[list[str], np.ndarray]:
    """Every context of length 0..order seen in ``text``, and its counts of the next character."""
    grams: Counter[str] = Counter()
    for n in range(order + 1):
        grams.update(text[i - n : i + 1] for i in range(n, len(text)))
    contexts: dict[str, int] = {}
    rows, cols, values = [], [], []
    for gram, count in grams.items():
        row = contexts.setdefault(gram[:-1], len(contexts))
        rows.append(row)
        cols.append(INDEX[gram[-1]])
        values.append(count)
    counts = np.zeros((len(contexts), V), dtype=np.uint32)
    counts[rows, cols] = values
    return list(contexts), counts


def topic_mixture(
    paragraphs: list[list[int]], words: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """EM for a mixture of unigrams: (responsibilities (paragraph, topic), word probabilities (topic, word))."""
    x = np.zeros((len(paragraphs), words))
    for d, ws in enumerate(paragraphs):
        np.add.at(x[d], ws, 1.0)
    best = None
    for _ in range(EM_RESTARTS):
        resp = rng.dirichlet(np.ones(TOPICS), len(paragraphs))
        for _ in range(EM_ITERATIONS):
            prior = resp.mean(axis=0) + 1e-9
            phi = resp.T @ x + 0.1
            phi /= phi.sum(axis=1, keepdims=True)
            log_like = x @ np.log(phi).T + np.log(prior)
            top = log_like.max(axis=1, keepdims=True)
            resp = np.exp(log_like - top)
            total = resp.sum(axis=1, keepdims=True)
            resp /= total
        score = float((np.log(total) + top).sum())
        if best is None or score > best[0]:
            best = (score, resp, phi)
    assert best is not None
    return best[1], best[2]


def train(text: str, budget_s: float) -> bytes:
    paragraphs = text.split("\n")[:-1]
    vocabulary: dict[str, int] = {}
    docs = [
        [vocabulary.setdefault(w, len(vocabulary)) for w in p.replace(".", " ").split()] for p in paragraphs
    ]
    resp, phi = topic_mixture(docs, len(vocabulary), np.random.default_rng(0))
    topic = resp.argmax(axis=1)
    transition = np.full((TOPICS, TOPICS), 0.5)
    np.add.at(transition, (topic[:-1], topic[1:]), 1.0)
    transition /= transition.sum(axis=1, keepdims=True)
    tables = [count_ngrams(text, ORDER)]
    for k in range(TOPICS):
        own = "".join(p + "\n" for p, t in zip(paragraphs, topic, strict=True) if t == k)
        tables.append(count_ngrams("\n" + own, ORDER))
    header = {
        "vocabulary": list(vocabulary),
        "phi": phi.tolist(),
        "prior": np.bincount(topic, minlength=TOPICS).tolist(),
        "transition": transition.tolist(),
        "contexts": ["\t".join(contexts) for contexts, _ in tables],
        "rows": [len(contexts) for contexts, _ in tables],
    }
    blob = json.dumps(header).encode()
    counts = np.concatenate([c for _, c in tables]).astype("<u4").tobytes()
    return zlib.compress(len(blob).to_bytes(8, "little") + blob + counts, 6)


class Table:
    """One set of n-gram counts: context -> (counts, total, distinct next characters)."""

    def __init__(self, contexts: list[str], counts: np.ndarray) -> None:
        counts = counts.astype(np.float64)
        totals = counts.sum(axis=1)
        distinct = np.count_nonzero(counts, axis=1)
        # per context: the discounted counts / total, and the weight left for the lower order
        discounted = np.maximum(counts - DISCOUNT, 0.0) / totals[:, None]
        backoff = DISCOUNT * distinct / totals
        self.rows = {c: (discounted[i], float(backoff[i])) for i, c in enumerate(contexts)}

    def interpolate(self, context: str, base: np.ndarray) -> np.ndarray:
        p = base
        for n in range(min(ORDER, len(context)) + 1):
            row = self.rows.get(context[len(context) - n :])
            if row is None:
                break
            p = row[0] + row[1] * p
        return p


class Predictor:
    def __init__(self, model: bytes) -> None:
        raw = zlib.decompress(model)
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + size])
        counts = np.frombuffer(raw[8 + size :], dtype="<u4").reshape(-1, V)
        self.tables = []
        start = 0
        for contexts, rows in zip(header["contexts"], header["rows"], strict=True):
            names = contexts.split("\t") if rows else []
            self.tables.append(Table(names, counts[start : start + rows]))
            start += rows
        self.vocabulary = {w: i for i, w in enumerate(header["vocabulary"])}
        self.log_phi = np.log(np.asarray(header["phi"]))
        self.transition = np.asarray(header["transition"])
        prior = np.asarray(header["prior"], dtype=np.float64) + 1.0
        self.posterior = prior / prior.sum()
        self.log_posterior = np.log(np.maximum(self.posterior, 1e-300))
        self.context = ""
        self.word = ""
        self.uniform = np.full(V, 1.0 / V)

    def probs(self) -> np.ndarray:
        context = self.context[-ORDER:]
        general = self.tables[0].interpolate(context, self.uniform)
        mixture = np.zeros(V)
        for k in np.flatnonzero(self.posterior > 1e-3):
            mixture += self.posterior[k] * self.tables[1 + k].interpolate(context, general)
        p = MIX * mixture / mixture.sum() + (1.0 - MIX) * general
        p = p / p.sum()
        p[p.argmax()] = max(p.max(), 0.9)
        return p

    def observe(self, c: int) -> None:
        char = ALPHABET[c]
        self.context = (self.context + char)[-ORDER:]
        if char.isalpha():
            self.word += char
            return
        if self.word:
            w = self.vocabulary.get(self.word)
            self.log_posterior = self.log_posterior + (
                self.log_phi[:, w] if w is not None else np.log(UNKNOWN_WORD)
            )
            self._normalise()
            self.word = ""
        if char == "\n":
            self.posterior = self.posterior @ self.transition
            self.log_posterior = np.log(np.maximum(self.posterior, 1e-300))

    def _normalise(self) -> None:
        top = self.log_posterior.max()
        posterior = np.exp(self.log_posterior - top)
        self.posterior = posterior / posterior.sum()
        self.log_posterior = np.log(np.maximum(self.posterior, 1e-300))
