"""Rung: the standard library's bzip2 (Burrows-Wheeler) at level 9."""

from __future__ import annotations

import bz2


def compress(data: bytes) -> bytes:
    return bz2.compress(data, 9)


def decompress(blob: bytes) -> bytes:
    return bz2.decompress(blob)
