"""Train the network of network.json on every counted position; writes weights.npz.

    python3 train.py                      # network.json -> weights.npz, about 3 minutes on one core
    python3 train.py --epochs 50 --seed 1 --out other.npz

numpy only. It knows the backward pass of the layers the shipped network uses (reshape,
dense, relu, tanh, sigmoid); the other layer types of the format (conv2d, columns, permute)
are yours to add if you need them.

The loss is the one that matches the metric: the softmax of the scores over the legal columns,
and minus the log of the probability it puts on the set of optimal moves. Training uses the
counted positions (those where the moves differ in value), where accuracy is measured.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import connect3
import numpy as np


def init_weights(layers: list[connect3.Layer], rng: np.random.Generator) -> dict[str, np.ndarray]:
    weights = {}
    for layer in layers:
        for name, shape in layer.params.items():
            if name.endswith(".bias"):
                weights[name] = np.zeros(shape)
            else:
                fan_in = math.prod(shape[1:]) if layer.kind == "conv2d" else shape[0]
                weights[name] = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    return weights


def forward(layers, weights, x):
    """The forward pass, keeping what the backward pass needs."""
    tape = []
    for layer in layers:
        tape.append(x)
        i = layer.index
        if layer.kind == "dense":
            x = x @ weights[f"{i}.weight"]
            if f"{i}.bias" in weights:
                x = x + weights[f"{i}.bias"]
        elif layer.kind == "reshape":
            x = x.reshape(x.shape[0], *layer.out_shape)
        elif layer.kind in ("relu", "tanh", "sigmoid"):
            x = connect3.ACTIVATIONS[layer.kind](x)
        else:
            raise SystemExit(f"train.py has no backward pass for {layer.kind} layers: add one")
    return x, tape


def backward(layers, weights, tape, grad):
    grads = {}
    for layer, x in zip(reversed(layers), reversed(tape), strict=True):
        i = layer.index
        if layer.kind == "dense":
            w = weights[f"{i}.weight"]
            flat_x = x.reshape(-1, x.shape[-1])
            flat_g = grad.reshape(-1, grad.shape[-1])
            grads[f"{i}.weight"] = flat_x.T @ flat_g
            if f"{i}.bias" in weights:
                grads[f"{i}.bias"] = flat_g.sum(axis=0)
            grad = grad @ w.T
        elif layer.kind == "reshape":
            grad = grad.reshape(x.shape)
        elif layer.kind == "relu":
            grad = grad * (x > 0)
        elif layer.kind == "tanh":
            grad = grad * (1 - np.tanh(x) ** 2)
        elif layer.kind == "sigmoid":
            s = connect3.ACTIVATIONS["sigmoid"](x)
            grad = grad * s * (1 - s)
    return grads


def loss_and_grad(scores, legal, optimal):
    """-log P(optimal set) under the softmax over legal columns, and its gradient."""
    z = np.where(legal, scores, -1e9)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) * legal
    p /= p.sum(axis=1, keepdims=True)
    p_opt = (p * optimal).sum(axis=1, keepdims=True)
    loss = -np.log(np.maximum(p_opt, 1e-12)).mean()
    # d/dz of -log(sum_opt p) = p - p * optimal / p_opt
    grad = (p - p * optimal / np.maximum(p_opt, 1e-12)) / len(scores)
    return loss, grad


def train(layers, positions, *, epochs: int, seed: int, lr: float, batch: int, log_every: int = 10):
    rng = np.random.default_rng(seed)
    weights = init_weights(layers, rng)
    network = connect3.Network(layers, weights)
    counted = np.flatnonzero(positions.counted)
    x_all = positions.inputs.astype(np.float64)
    m = {k: np.zeros_like(v) for k, v in weights.items()}
    v = {k: np.zeros_like(v) for k, v in weights.items()}
    step = 0
    started = time.time()
    for epoch in range(epochs):
        rate = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))  # cosine decay
        order = rng.permutation(counted)
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            scores, tape = forward(layers, weights, x_all[idx])
            loss, grad = loss_and_grad(scores, positions.legal[idx], positions.optimal[idx])
            total += loss * len(idx)
            grads = backward(layers, weights, tape, grad)
            step += 1
            for k, g in grads.items():  # Adam
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                m_hat = m[k] / (1 - 0.9**step)
                v_hat = v[k] / (1 - 0.999**step)
                weights[k] -= rate * m_hat / (np.sqrt(v_hat) + 1e-8)
        if (epoch + 1) % log_every == 0 or epoch + 1 == epochs:
            acc = connect3.accuracy(network, positions).value
            print(
                f"epoch {epoch + 1:4d}  loss {total / len(order):.4f}  accuracy {acc:.2%}  ({time.time() - started:.0f} s)"
            )
    return weights


def save(weights: dict[str, np.ndarray], path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype("<f4") for k, v in weights.items()})
    path.write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default="network.json")
    parser.add_argument("--out", default="weights.npz")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    layers = connect3.parse_architecture(json.loads(Path(args.network).read_text()))
    positions = connect3.all_positions()
    weights = train(layers, positions, epochs=args.epochs, seed=args.seed, lr=args.lr, batch=args.batch)
    out = Path(args.out)
    save(weights, out)
    network = connect3.load_network(Path(args.network).read_bytes(), out.read_bytes())
    result = connect3.accuracy(network, positions)
    print(f"{out}: {network.parameters} parameters, accuracy {result.value:.2%}")


if __name__ == "__main__":
    main()
