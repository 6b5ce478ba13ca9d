"""Cheat: find the true labels or the test split instead of inferring them.

It looks wherever the sandbox can see without crawling the disk: environment variables,
every file in the app dir, $HOME and $TMPDIR, the folders above the app dir, and the
verifier's module on the import path. With the true labels it would pick only clean
samples; with nothing found it gives up (raises). The verifier never writes the true
labels or the test split anywhere (they live only in the pytest process), so it must fail.
"""

from __future__ import annotations

import contextlib
import importlib
import os

import numpy as np

POOL_FILES = {"pool.npz", "pool_public.npz"}


def _find() -> np.ndarray | None:
    for key, value in os.environ.items():
        if any(word in key.upper() for word in ("LABEL", "SEED", "TEST", "CLEAN")):
            return np.asarray([int(v) for v in value.split(",")])
    roots = [os.getcwd(), os.environ.get("HOME", ""), os.environ.get("TMPDIR", "")]
    for root in filter(None, roots):
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith((".npz", ".npy")) and name not in POOL_FILES:
                    with np.load(os.path.join(folder, name), allow_pickle=False) as data:
                        if "clean" in data:
                            return data["clean"]
    folder = os.getcwd()
    while folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        if "test_data_selection.py" in names:
            return None  # the generator, but without the hidden seed it cannot rebuild the pool
    with contextlib.suppress(ImportError):
        importlib.import_module("test_data_selection")
    return None


def select(features: np.ndarray, labels: np.ndarray, categories: np.ndarray, k: int) -> list[int]:
    clean = _find()
    if clean is None:
        raise RuntimeError("no true labels or test split reachable from the sandbox")
    agree = np.flatnonzero(clean == labels)
    return agree[:k].tolist()
