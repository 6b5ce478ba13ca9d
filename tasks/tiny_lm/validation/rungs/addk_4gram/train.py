"""Rung: a character 4-gram (three characters of context) with add-k smoothing, no backing off."""

from __future__ import annotations

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
K = 0.02


def train(text: str, budget_s: float) -> bytes:
    lookup = np.zeros(256, dtype=np.int64)
    lookup[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(V)
    codes = lookup[np.frombuffer(text.encode(), dtype=np.uint8)]
    counts = np.zeros((V + 1, V + 1, V + 1, V))  # index V: no character yet
    padded = np.concatenate([[V, V, V], codes])
    np.add.at(counts, (padded[:-3], padded[1:-2], padded[2:-1], padded[3:]), 1.0)
    return counts.astype("<f4").tobytes()


class Predictor:
    def __init__(self, model: bytes) -> None:
        counts = np.frombuffer(model, dtype="<f4").reshape(V + 1, V + 1, V + 1, V).astype(np.float64) + K
        self.table = counts / counts.sum(axis=3, keepdims=True)
        self.context = (V, V, V)

    def probs(self) -> np.ndarray:
        return self.table[self.context]

    def observe(self, c: int) -> None:
        self.context = (self.context[1], self.context[2], c)
