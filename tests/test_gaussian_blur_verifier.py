"""The gaussian_blur verifier's trusted part: its float64 reference."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from .conftest import REPO, load_module


def load_verifier() -> ModuleType:
    path = REPO / "tasks" / "gaussian_blur" / "test_gaussian_blur.py"
    return load_module(path, "gaussian_blur_verifier")


verifier = load_verifier()


def by_definition(image: np.ndarray) -> np.ndarray:
    """The 2-D sum of blur.h, tap by tap, with clamped coordinates."""
    r = verifier.RADIUS
    w = verifier.kernel()
    h, wd = image.shape
    out = np.zeros((h, wd))
    for dy in range(-r, r + 1):
        rows = np.clip(np.arange(h) + dy, 0, h - 1)
        for dx in range(-r, r + 1):
            cols = np.clip(np.arange(wd) + dx, 0, wd - 1)
            out += w[dy + r] * w[dx + r] * image[np.ix_(rows, cols)].astype(np.float64)
    return out


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 20), (20, 3), (25, 31)])
def test_separable_reference_equals_the_two_dimensional_definition(width: int, height: int) -> None:
    image = np.random.default_rng(width * height).standard_normal((height, width)).astype(np.float32)
    np.testing.assert_allclose(verifier.reference(image), by_definition(image), rtol=0, atol=1e-12)


def test_kernel_is_a_normalised_gaussian_of_sigma_three() -> None:
    w = verifier.kernel()
    assert len(w) == 19
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    assert w[9 + 3] / w[9] == pytest.approx(np.exp(-0.5))


def test_blurred_impulse_is_the_kernel() -> None:
    image = np.zeros((41, 41), dtype=np.float32)
    image[20, 20] = 1.0
    w = verifier.kernel()
    np.testing.assert_allclose(verifier.reference(image)[11:30, 11:30], np.outer(w, w), rtol=0, atol=1e-15)
