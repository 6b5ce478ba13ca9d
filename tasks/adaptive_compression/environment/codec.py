"""The codec (editable; the only file that is scored): zlib at level 6 as shipped."""

from __future__ import annotations

import zlib


def compress(data: bytes) -> bytes:
    """Any bytes -> compressed bytes. decompress(compress(data)) must give data back exactly."""
    return zlib.compress(data, 6)


def decompress(blob: bytes) -> bytes:
    """Compressed bytes -> the original bytes. It sees nothing but ``blob`` (and this file)."""
    return zlib.decompress(blob)
