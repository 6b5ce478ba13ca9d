"""The trusted parts of tasks/adaptive_compression: the corpus sources and the size rule."""

from __future__ import annotations

import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from .conftest import REPO, load_module

TASK = REPO / "tasks" / "adaptive_compression"


def load(path: Path, name: str) -> ModuleType:
    return load_module(path, name)


@pytest.fixture(scope="module")
def verifier() -> ModuleType:
    return load(TASK / "test_adaptive_compression.py", "_adaptive_compression_verifier")


@pytest.fixture(scope="module")
def files(verifier: ModuleType) -> dict[str, bytes]:
    return dict(verifier.corpus(5))


def test_corpus_has_the_declared_files_and_sizes(verifier: ModuleType, files: dict[str, bytes]) -> None:
    expected = {name: size for name, _, size in verifier.SOURCES} | {"mixed.dat": 48_000}
    assert {name: len(data) for name, data in files.items()} == expected


def test_corpus_is_a_function_of_the_seed(verifier: ModuleType, files: dict[str, bytes]) -> None:
    assert verifier.corpus(5) == files
    other = verifier.corpus(6)
    assert all(other[name] != files[name] for name in files)


def test_text_vocabulary_changes_with_the_seed(verifier: ModuleType) -> None:
    words = [set(verifier.text(seed, 20_000).split()) for seed in (1, 2)]
    assert len(words[0] & words[1]) < 0.2 * len(words[0])


def test_log_reports_recur_beyond_zlibs_window(files: dict[str, bytes]) -> None:
    """Report lines (each ends with a random hex word) come back more than 32 KB later."""
    first: dict[bytes, int] = {}
    far = 0
    at = 0
    for line in files["logs.txt"].split(b"\n"):
        if line.startswith(b"    at "):
            far += at - first.setdefault(line, at) > 32_768
        at += len(line) + 1
    assert far > 50


def test_the_mix_is_the_same_on_every_seed(verifier: ModuleType, files: dict[str, bytes]) -> None:
    """What decides how compressible the corpus is does not move with the seed: the mixed file's
    sections (every source a fifth of it, noise included) and the log's reports (as many, as long)."""
    other = verifier.corpus(6)
    sizes = [len(zlib.compress(corpus["mixed.dat"], 6)) for corpus in (files, other)]
    assert abs(sizes[0] - sizes[1]) < 0.03 * sizes[0]  # a seeded mix moved it by up to 30 %
    mixed = [corpus["mixed.dat"] for corpus in (files, other)]
    assert mixed[0] != mixed[1]
    reports = [corpus["logs.txt"].count(b"report follows") for corpus in (files, other)]
    assert reports[0] > 20
    assert abs(reports[0] - reports[1]) <= 1


def test_noise_is_incompressible_and_records_are_not(files: dict[str, bytes]) -> None:
    assert len(zlib.compress(files["noise.bin"], 9)) > len(files["noise.bin"])
    records = np.frombuffer(files["records.bin"][: 11 * 4000], dtype=np.uint8).reshape(4000, 11)
    assert np.all(np.diff(records[:, :4].copy().view("<u4").ravel().astype(np.int64)) > 0)  # a counter


def test_relative_size_counts_every_compressed_byte_against_zlib(
    verifier: ModuleType, files: dict[str, bytes]
) -> None:
    zlib_sizes = {name: len(zlib.compress(data, 6)) for name, data in files.items()}
    assert verifier.relative_size(files, zlib_sizes) == 1.0
    half = {name: size // 2 for name, size in zlib_sizes.items()}
    assert verifier.relative_size(files, half) == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError):
        verifier.relative_size(files, {"text.txt": 1})


def test_shipped_samples_come_from_the_sources_but_not_the_public_seed(verifier: ModuleType) -> None:
    samples = {p.name: p.read_bytes() for p in (TASK / "environment" / "samples").iterdir()}
    assert samples == verifier.corpus(12345)
    assert samples != verifier.corpus(0)


def test_reference_codec_round_trips_the_corners(verifier: ModuleType) -> None:
    codec = load(TASK / "solution" / "codec.py", "_adaptive_compression_reference")
    corners = verifier.EDGE_CASES
    # small inputs: the model codes one bit per numpy step when there is a single lane
    for data in (corners["empty.bin"], corners["one.bin"], bytes(range(256)) + verifier.text(3, 300)):
        assert codec.decompress(codec.compress(data)) == data
