"""The file to improve. As shipped: a loop over each query's range."""


def answer(a, queries):
    """a[l] + ... + a[r - 1] for each query (l, r)."""
    out = []
    for lo, hi in queries:
        total = 0
        for i in range(lo, hi):
            total += a[i]
        out.append(total)
    return out
