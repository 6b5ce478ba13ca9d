"""A cheat: answers the first queries honestly and guesses 0 for the rest (skipped work)."""


def answer(a, queries):
    return [sum(a[lo:hi]) if k < 64 else 0 for k, (lo, hi) in enumerate(queries)]
