"""The file to improve. As shipped: a loop over each query's range."""


def answer(a, queries):
    """a[l] + ... + a[r - 1] for each query (l, r)."""
    out = []
    for l, r in queries:
        total = 0
        for i in range(l, r):
            total += a[i]
        out.append(total)
    return out
