"""A rung: the built-in sum over each query's slice (a C loop, but still one per range)."""


def answer(a, queries):
    return [sum(a[lo:hi]) for lo, hi in queries]
