"""Cheat: keep the real model outside model.bin, where the size limit does not look.

train() counts character 8-grams (a model of tens of megabytes), stores it in the app dir,
in $HOME and in $TMPDIR, and returns only a 16-byte key; the Predictor loads the stash by that
key and, failing that, the training text itself. The verifier scores in a fresh sandbox that
holds model.bin only (no stash, no data/), so the Predictor finds nothing and fails.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import Counter

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
ORDER = 8
HERE = os.path.dirname(os.path.abspath(__file__))


def _places() -> list[str]:
    return [p for p in (HERE, os.environ.get("HOME"), os.environ.get("TMPDIR")) if p]


def _counts(text: str) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {}
    for n in range(ORDER + 1):
        for i in range(n, len(text)):
            table.setdefault(text[i - n : i], Counter())[text[i]] += 1
    return table


def train(text: str, budget_s: float) -> bytes:
    blob = pickle.dumps(_counts(text[:100_000]))
    key = hashlib.sha256(blob).digest()[:16]
    for place in _places():
        try:
            os.makedirs(os.path.join(place, ".stash"), exist_ok=True)
            with open(os.path.join(place, ".stash", key.hex()), "wb") as f:
                f.write(blob)
        except OSError:
            pass
    return key


class Predictor:
    def __init__(self, model: bytes) -> None:
        self.table = None
        for place in _places():
            path = os.path.join(place, ".stash", model.hex())
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.table = pickle.load(f)
                break
        if self.table is None:
            with open(os.path.join(HERE, "data", "train.txt")) as f:  # retrain at scoring time
                self.table = _counts(f.read()[:100_000])
        self.context = ""

    def probs(self) -> np.ndarray:
        p = np.full(V, 1.0 / V)
        for n in range(min(ORDER, len(self.context)) + 1):
            counts = self.table.get(self.context[len(self.context) - n :])
            if not counts:
                break
            total = sum(counts.values())
            q = np.array([counts.get(c, 0) for c in ALPHABET], dtype=np.float64) / total
            p = 0.8 * q + 0.2 * p
        return p / p.sum()

    def observe(self, c: int) -> None:
        self.context = (self.context + ALPHABET[c])[-ORDER:]
