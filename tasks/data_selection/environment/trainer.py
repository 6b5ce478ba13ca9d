"""The fixed trainer (read-only): softmax regression by full-batch gradient descent.

The verifier trains exactly this, from its own pristine copy, on the samples your
``select`` picks, and measures the accuracy of the result on a hidden clean test set.
You may import it to run your own experiments::

    from trainer import train, predict
    model = train(features[idx], labels[idx])
    accuracy = (predict(model, other_features) == other_labels).mean()

It is deterministic: float64 throughout, weights start at zero, a fixed number of
steps, and every sum over samples is taken in a fixed order by elementwise additions
(no BLAS, no threads), so the same selection gives the same model on any machine up
to the last bits of ``exp``. The order of the selected indices does not matter (the
verifier sorts them).
"""

from __future__ import annotations

import numpy as np

#: Feature files store int8 fixed point: the value is the stored integer / SCALE.
SCALE = 8.0
#: Gradient descent: steps, step size, L2 penalty on the weights (not the bias).
STEPS = 300
LEARNING_RATE = 0.5
L2 = 1e-3


def dequantize(features: np.ndarray) -> np.ndarray:
    """int8 features as stored in the pool -> float64 inputs of the model."""
    return np.asarray(features, dtype=np.float64) / SCALE


def tree_sum(values: np.ndarray) -> np.ndarray:
    """Sum over axis 0 by a fixed pairwise tree of elementwise additions.

    The result does not depend on the numpy version, the BLAS or the CPU: each level
    adds row 2i and row 2i+1 (a zero row pads an odd count), and elementwise float64
    additions are exact IEEE operations.
    """
    values = np.asarray(values, dtype=np.float64)
    while values.shape[0] > 1:
        if values.shape[0] % 2:
            values = np.concatenate([values, np.zeros_like(values[:1])])
        values = values[0::2] + values[1::2]
    return values[0]


def logits(weights: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x @ weights + bias, accumulated feature by feature in a fixed order."""
    out = np.broadcast_to(bias, (x.shape[0], bias.shape[0])).copy()
    for j in range(x.shape[1]):
        out += x[:, j : j + 1] * weights[j]
    return out


def train(features: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit softmax regression on (features, labels); return (weights, bias)."""
    x = dequantize(features)
    y = np.asarray(labels, dtype=np.int64)
    n, d = x.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    weights = np.zeros((d, n_classes))
    bias = np.zeros(n_classes)
    for _ in range(STEPS):
        z = logits(weights, bias, x)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        total = p[:, :1].copy()
        for k in range(1, n_classes):  # a fixed order for the normaliser too
            total += p[:, k : k + 1]
        p /= total
        g = (p - onehot) / n
        # (d, n, classes) products, summed over the samples by the fixed tree
        grad_w = tree_sum(x[:, :, None] * g[:, None, :])
        grad_b = tree_sum(g)
        weights -= LEARNING_RATE * (grad_w + L2 * weights)
        bias -= LEARNING_RATE * grad_b
    return weights, bias


def predict(model: tuple[np.ndarray, np.ndarray], features: np.ndarray) -> np.ndarray:
    """The predicted class of every row of ``features`` (int8, as stored)."""
    weights, bias = model
    return np.argmax(logits(weights, bias, dequantize(features)), axis=1)
