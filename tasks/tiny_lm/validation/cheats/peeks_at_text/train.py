"""Cheat: predict the next character by reading it instead of guessing it.

The Predictor looks for the hidden text wherever the scoring process could reach it: the input
file the driver was given (and every text file around), its standard input, the environment,
and the memory and open files of its parent (the driver, which holds the text) through /proc.
With the text it would give the true next character a probability of 0.97. The driver deletes
the input before the Predictor starts, starts it in a fresh interpreter, and is not dumpable
(its /proc files are closed to other processes), so it finds nothing and gives up (raises).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat

import numpy as np

ALPHABET = "\n .abcdefghijklmnopqrstuvwxyz"
V = len(ALPHABET)
TEXT = re.compile(rb"[a-z .\n]{2000,}")


def train(text: str, budget_s: float) -> bytes:
    return b"peek"


def _candidates() -> list[bytes]:
    found: list[bytes] = []
    here = os.path.dirname(os.path.abspath(__file__))
    for path in glob.glob(os.path.join(here, "*")) + glob.glob(os.path.join(here, ".*")):
        if os.path.isfile(path) and not path.endswith((".py", ".bin", ".f64")):
            with contextlib.suppress(OSError), open(path, "rb") as f:
                found.append(f.read())
    with contextlib.suppress(OSError, ValueError):
        found.append(os.read(0, 1 << 20))
    found.extend(value.encode() for value in os.environ.values())
    parent = os.getppid()
    for fd in glob.glob(f"/proc/{parent}/fd/*"):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.stat(fd).st_mode):  # not the pipes: they carry the driver's messages
                with open(fd, "rb") as f:
                    found.append(f.read(1 << 22))
    with (
        contextlib.suppress(OSError),
        open(f"/proc/{parent}/maps") as maps,
        open(f"/proc/{parent}/mem", "rb") as mem,
    ):
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            if end - start > 1 << 28:
                continue
            with contextlib.suppress(OSError, ValueError, OverflowError):
                mem.seek(start)
                found.append(mem.read(end - start))
    return found


class Predictor:
    def __init__(self, model: bytes) -> None:
        texts = [m.group(0).decode() for blob in _candidates() for m in TEXT.finditer(blob)]
        if not texts:
            raise RuntimeError("the hidden text is nowhere the predictor can reach")
        self.text = max(texts, key=len)
        self.seen = ""

    def probs(self) -> np.ndarray:
        p = np.full(V, 0.03 / (V - 1))
        at = self.text.find(self.seen[-40:]) if self.seen else 0
        if at >= 0 and at + min(len(self.seen), 40) < len(self.text):
            p[ALPHABET.index(self.text[at + min(len(self.seen), 40)])] = 0.97
        else:
            p[:] = 1.0 / V
        return p

    def observe(self, c: int) -> None:
        self.seen += ALPHABET[c]
