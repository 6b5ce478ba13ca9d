"""A cheat: answers the first queries honestly and guesses 0 for the rest (skipped work)."""


def answer(a, queries):
    return [sum(a[l:r]) if k < 64 else 0 for k, (l, r) in enumerate(queries)]
