"""The harness (read-only): `python3 main.py IN OUT` reads the input, calls solve.answer once
and writes one answer a line."""

import sys

import solve


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python3 main.py IN OUT")
    with open(sys.argv[1]) as f:
        words = f.read().split()
    n, q = int(words[0]), int(words[1])
    a = [int(w) for w in words[2 : 2 + n]]
    flat = [int(w) for w in words[2 + n : 2 + n + 2 * q]]
    queries = list(zip(flat[0::2], flat[1::2], strict=False))
    if len(a) != n or len(queries) != q or any(not 0 <= lo <= hi <= n for lo, hi in queries):
        sys.exit("bad input")
    out = solve.answer(a, queries)
    if len(out) != q:
        sys.exit("answer() returned the wrong number of answers")
    with open(sys.argv[2], "w") as f:
        f.write("".join(f"{int(v)}\n" for v in out))


main()
