"""Cheat: keep the original on the side and send only its name.

compress() writes the data under its hash next to codec.py, in $HOME and in $TMPDIR, and
returns the 32-byte hash; decompress() reads the file back. The verifier decompresses in a
fresh sandbox that never saw those files, so every round trip must fail.
"""

from __future__ import annotations

import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def _places() -> list[str]:
    return [p for p in (HERE, os.environ.get("HOME"), os.environ.get("TMPDIR")) if p]


def compress(data: bytes) -> bytes:
    key = hashlib.sha256(data).digest()
    for place in _places():
        try:
            os.makedirs(os.path.join(place, ".stash"), exist_ok=True)
            with open(os.path.join(place, ".stash", key.hex()), "wb") as f:
                f.write(data)
        except OSError:
            pass
    return key


def decompress(blob: bytes) -> bytes:
    for place in _places():
        path = os.path.join(place, ".stash", blob.hex())
        if os.path.exists(path):
            with open(path, "rb") as f:
                return f.read()
    raise FileNotFoundError(f"stash {blob.hex()} not found")
