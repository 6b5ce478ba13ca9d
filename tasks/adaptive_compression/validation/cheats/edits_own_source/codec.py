"""Cheat: smuggle the data into the decoder's source.

compress() appends the original, base85-encoded, to this very file under its hash, and
returns the hash; decompress() finds it there. codec.py is part of what the decoder gets, so
the verifier must give the decoder codec.py as it was before the compressor ran.
"""

from __future__ import annotations

import base64
import hashlib
import os

STASH: dict[str, str] = {}


def compress(data: bytes) -> bytes:
    key = hashlib.sha256(data).hexdigest()
    with open(os.path.abspath(__file__), "a") as f:
        f.write(f"\nSTASH[{key!r}] = {base64.b85encode(data).decode()!r}\n")
    return key.encode()


def decompress(blob: bytes) -> bytes:
    return base64.b85decode(STASH[blob.decode()])
