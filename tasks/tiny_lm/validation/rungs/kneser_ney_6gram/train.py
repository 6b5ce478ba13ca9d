"""Rung: interpolated absolute discounting (Kneser-Ney style, fixed discount) over character
n-grams of orders 0 to 6, counted over the whole training text: no topics."""

from __future__ import annotations

import json
import zlib
from collections import Counter

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
INDEX = {c: i for i, c in enumerate(ALPHABET)}
ORDER = 6
DISCOUNT = 0.75


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


def train(text: str, budget_s: float) -> bytes:
    contexts, counts = count_ngrams(text, ORDER)
    blob = json.dumps(contexts).encode()
    return zlib.compress(len(blob).to_bytes(8, "little") + blob + counts.astype("<u4").tobytes(), 6)


class Predictor:
    def __init__(self, model: bytes) -> None:
        raw = zlib.decompress(model)
        size = int.from_bytes(raw[:8], "little")
        contexts = json.loads(raw[8 : 8 + size])
        self.table = Table(contexts, np.frombuffer(raw[8 + size :], dtype="<u4").reshape(-1, V))
        self.context = ""
        self.uniform = np.full(V, 1.0 / V)

    def probs(self) -> np.ndarray:
        p = self.table.interpolate(self.context, self.uniform)
        return p / p.sum()

    def observe(self, c: int) -> None:
        self.context = (self.context + ALPHABET[c])[-ORDER:]
