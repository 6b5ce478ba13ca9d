"""Cheat: lossy compression. Text is lowercased and runs of spaces are squeezed before zlib,
and every other byte of binary data is dropped. Smaller, but the round trip must fail."""

from __future__ import annotations

import re
import zlib


def compress(data: bytes) -> bytes:
    if data and all(b < 128 for b in data):
        return b"T" + zlib.compress(re.sub(rb" +", b" ", data.lower()), 9)
    return b"B" + zlib.compress(data[::2], 9)


def decompress(blob: bytes) -> bytes:
    body = zlib.decompress(blob[1:])
    if blob[:1] == b"T":
        return body
    return bytes(b for x in body for b in (x, x))
