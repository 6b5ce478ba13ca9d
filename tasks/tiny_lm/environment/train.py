"""The language model: training and prediction (editable; the only file that is scored).

The shipped model is a character bigram: counts of each character after each character, plus
a small constant. The verifier calls, in two different sandboxes:

- ``train(text, budget_s) -> bytes``: learn from the training text (data/train.txt) within
  ``budget_s`` seconds of CPU; return the model, which the verifier stores as model.bin.
- ``Predictor(model)``: load the model from those bytes; then, for every position of the hidden
  text, ``probs()`` (the distribution of the next character over ALPHABET, given everything
  observed so far) followed by ``observe(c)`` (the index of the character that came).
"""

from __future__ import annotations

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
#: Added to every count.
SMOOTHING = 0.1


def train(text: str, budget_s: float) -> bytes:
    index = np.frombuffer(text.encode(), dtype=np.uint8)
    lookup = np.zeros(256, dtype=np.int64)
    lookup[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(V)
    codes = lookup[index]
    counts = np.zeros((V + 1, V))  # row V: the first character, with no context
    np.add.at(counts, (codes[:-1], codes[1:]), 1.0)
    counts[V, codes[0]] += 1.0
    return counts.astype("<f8").tobytes()


class Predictor:
    def __init__(self, model: bytes) -> None:
        counts = np.frombuffer(model, dtype="<f8").reshape(V + 1, V) + SMOOTHING
        self.table = counts / counts.sum(axis=1, keepdims=True)
        self.previous = V

    def probs(self) -> np.ndarray:
        """P(next character) over ALPHABET: V positive numbers that sum to 1."""
        return self.table[self.previous]

    def observe(self, c: int) -> None:
        """The next character was ALPHABET[c]."""
        self.previous = c
