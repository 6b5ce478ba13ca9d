"""How tiny_lm's metric moves with the hidden seed: the ladder on many seeds, in this process.

    python benchmarks/tiny_lm_seeds.py [--seeds 0-15] [--variants bigram,addk_4gram,kneser_ney_6gram,reference]

Each variant's ``train`` runs once on the public training text; its ``Predictor`` then scores
the hidden text of every seed, as the verifier's scoring driver would (one character at a time,
the same arithmetic), next to the source's floor and the shipped bigram. Prints the bits per
character, the relative excess (the metric) and n against the task.toml anchor. Training and
scoring are deterministic: only the text's sample moves the figures (the sandboxes add nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType

import numpy as np

TASK = Path(__file__).resolve().parent.parent / "tasks" / "tiny_lm"
VARIANTS = {
    "bigram": TASK / "environment" / "train.py",
    "addk_4gram": TASK / "validation" / "rungs" / "addk_4gram" / "train.py",
    "kneser_ney_6gram": TASK / "validation" / "rungs" / "kneser_ney_6gram" / "train.py",
    "reference": TASK / "solution" / "train.py",
}


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(x) for x in text.split("-"))
        return list(range(low, high + 1))
    return [int(x) for x in text.split(",")]


def log2probs(predictor: object, text: str, alphabet: str) -> np.ndarray:
    out = np.empty(len(text))
    for i, c in enumerate(text):
        k = alphabet.index(c)
        out[i] = math.log2(float(predictor.probs()[k]))  # type: ignore[attr-defined]
        predictor.observe(k)  # type: ignore[attr-defined]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0-15")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    verifier = load(TASK / "test_tiny_lm.py", "_tiny_lm_verifier")
    anchor = tomllib.loads((TASK / "task.toml").read_text())["optimization"]["reference"]["score"]
    data = (TASK / "environment" / "data" / "train.txt").read_text()
    models = {}
    for name in args.variants.split(","):
        module = load(VARIANTS[name], f"_tiny_lm_{name}")
        start = time.process_time()
        models[name] = (module, module.train(data, 60.0))
        print(f"{name}: trained in {time.process_time() - start:.1f} s CPU, {len(models[name][1])} bytes")
    excess: dict[str, list[float]] = {name: [] for name in models}
    for seed in seeds(args.seeds):
        text = verifier.test_text(seed)
        floor = verifier.source().bits(text) / len(text)
        bigram = -float(verifier.bigram_log2probs(text).mean())
        row = [f"seed {seed:3d}: floor {floor:.4f}, bigram {bigram:.4f}"]
        for name, (module, blob) in models.items():
            bpc = -float(log2probs(module.Predictor(blob), text, verifier.ALPHABET).mean())
            metric = verifier.relative_excess(bpc, floor, bigram)
            excess[name].append(metric)
            row.append(f"{name} {bpc:.4f} ({metric:.4f}, n {math.log(metric) / math.log(anchor):.3f})")
        print("; ".join(row))
    for name, values in excess.items():
        ns = [math.log(v) / math.log(anchor) for v in values]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{name}: relative excess {min(values):.4f}-{max(values):.4f} (mean {statistics.mean(values):.4f}, "
            f"sd {spread:.4f}); n {min(ns):.3f}-{max(ns):.3f} against the anchor {anchor}"
        )


if __name__ == "__main__":
    main()
