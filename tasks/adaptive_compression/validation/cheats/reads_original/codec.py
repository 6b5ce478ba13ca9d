"""Cheat: the decoder reads the original file.

compress() records the path of the file it was given (run_codec.py's argument) and nothing
else; decompress() opens that path. The verifier decompresses in a fresh sandbox where the
originals were never written, so every round trip must fail.
"""

from __future__ import annotations

import os
import sys


def compress(data: bytes) -> bytes:
    return os.path.abspath(sys.argv[2]).encode()


def decompress(blob: bytes) -> bytes:
    with open(blob.decode(), "rb") as f:
        return f.read()
