"""Timed metrics that travel between machines: a speedup over the pristine baseline.

Absolute times drift with the machine and its load, so a timed task is not scored
on seconds. The verifier builds the pristine baseline next to the submission in the
same sandbox and times the two interleaved, after a warm-up::

    warm-up   B A                  (discarded: page cache, lazy binding, CPU frequency)
    round 0   A B                  A = the submission, B = the baseline
    round 1   B A                  the order alternates, so a drift in the load
    round 2   A B                  favours neither side
    ...

Each round gives one paired ratio ``B_i / A_i``. The speedup is the Hodges-Lehmann
estimate over the log-ratios (the median of their pairwise means) and its interval
is the exact distribution-free one of the Wilcoxon signed-rank test: no random
numbers, so the same times always give the same interval. A speedup whose interval
contains 1 is not told apart from the baseline: ``Timing.score`` is then 1.0, the
baseline's own speedup, and the task's reward 0::

    timing = submission.timed("./bench -seed 7", "./bench-base -seed 7", check=check)
    timing.speedup, timing.low, timing.high   # 3.1, 2.8, 3.4
    record_metric(timing.score, details=timing.to_json())

Two clocks are recorded for every run: ``wall`` (elapsed: waiting, I/O, contention
as the user sees it) and ``cpu`` (user + system time of every process the command
started: contention as work done, less sensitive to other tenants of the machine).
``clock`` picks the one compared; ``timing.with_clock(...)`` gives the other.

Every run (warm-up included) is passed to ``check``, so a program cannot be fast
only where the clock looks. A run is timed in the sandbox by a small Python
wrapper (no file on disk a program could edit) that makes itself the child
subreaper and stops the clock when the last process the command started has
exited: work left to a detached child is counted, and a process still running
after ``linger`` seconds is killed and fails the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .sandboxes import ExecResult, Sandbox

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_ROUNDS",
    "DEFAULT_WARMUP",
    "Check",
    "Clock",
    "Command",
    "Timing",
    "TimingError",
    "hodges_lehmann",
    "paired_speedup",
    "signed_rank_cdf",
    "timed",
    "timed_run",
]

#: Measured rounds (pairs) by default: the exact 95% interval needs at least 6.
DEFAULT_ROUNDS = 10
#: Unmeasured pairs run first.
DEFAULT_WARMUP = 1
#: Two-sided confidence of the interval.
DEFAULT_CONFIDENCE = 0.95

Clock = Literal["wall", "cpu"]
#: Marks the wrapper's report, the last line of its stdout.
_MARK = "AUTOLAB-TIMING "

#: The wrapper, run as ``python3 -c _WRAPPER LINGER COMMAND``: nothing on disk.
_WRAPPER = r"""
import ctypes, json, os, resource, signal, sys, time
linger, command = float(sys.argv[1]), sys.argv[2]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
sys.stdout.flush()
start = time.perf_counter_ns()
pid = os.fork()
if pid == 0:
    try:
        os.execvp("bash", ["bash", "-c", command])
    finally:
        os._exit(127)
code, main_end, stragglers = 127, None, 0
while True:
    try:
        if main_end is None:
            child, status = os.wait()
        else:
            child, status = os.waitpid(-1, os.WNOHANG)
            if child == 0:
                if time.perf_counter_ns() - main_end > linger * 1e9:
                    me = str(os.getpid())
                    for entry in os.listdir("/proc"):
                        try:
                            with open(f"/proc/{entry}/stat") as f:
                                fields = f.read().rsplit(")", 1)[1].split()
                            if fields[1] == me:
                                os.kill(int(entry), signal.SIGKILL)
                                stragglers += 1
                        except (OSError, ValueError, IndexError):
                            pass
                    linger = float("inf")
                time.sleep(0.001)
                continue
    except ChildProcessError:
        break
    if child == pid:
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        main_end = time.perf_counter_ns()
end = time.perf_counter_ns()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
report = {"wall_s": (end - start) / 1e9, "cpu_s": usage.ru_utime + usage.ru_stime,
          "exit": code, "stragglers": stragglers}
sys.stdout.write("\n" + "AUTOLAB-TIMING " + json.dumps(report) + "\n")
sys.exit(code)
"""


class TimingError(AssertionError):
    """A timed run failed: it crashed, timed out, left processes behind or gave a wrong output.

    An AssertionError, so that a verifier test reports it as the submission's failure.
    """


# --- statistics: pure functions ------------------------------------------------------------------


def signed_rank_cdf(n: int) -> list[float]:
    """P(T <= t) for t = 0 .. n(n+1)/2, T the Wilcoxon signed-rank statistic of n pairs
    under the null hypothesis (each sign + or - with probability 1/2, no ties)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    counts = [1]  # ways to reach each rank sum with the first k ranks
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for t, ways in enumerate(counts):
            grown[t + rank] += ways
        counts = grown
    total = float(2**n)
    cdf, running = [], 0
    for ways in counts:
        running += ways
        cdf.append(running / total)
    return cdf


def hodges_lehmann(
    values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float, float]:
    """(estimate, low, high, achieved confidence) of the centre of ``values``.

    The estimate is the median of the Walsh averages (x_i + x_j) / 2, i <= j; the
    interval runs from the k-th smallest to the k-th largest of them, k from the
    exact signed-rank distribution, which is the widest interval whose coverage is
    at least ``confidence`` (for too few values: all of them, with the coverage it has).
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite: {list(values)}")
    walsh = sorted((values[i] + values[j]) / 2 for i in range(n) for j in range(i, n))
    m = len(walsh)
    middle = (m - 1) // 2
    estimate = walsh[middle] if m % 2 else (walsh[middle] + walsh[middle + 1]) / 2
    cdf = signed_rank_cdf(n)
    # [W_(c), W_(m-1-c)] (0-indexed) covers the centre with probability 1 - 2 P(T <= c):
    # take the largest c whose coverage is still at least ``confidence``.
    c = 0
    while c + 1 < len(cdf) and cdf[c + 1] <= (1 - confidence) / 2 + 1e-12:
        c += 1
    achieved = 1 - 2 * cdf[c]
    return estimate, walsh[c], walsh[m - 1 - c], achieved


def paired_speedup(
    submission_s: Sequence[float], baseline_s: Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float, float]:
    """(speedup, low, high, achieved confidence) from paired times: round i's ratio is
    ``baseline_s[i] / submission_s[i]``; the centre and the interval are taken over the
    log-ratios (so that 2x faster and 2x slower are symmetric) and exponentiated back."""
    if len(submission_s) != len(baseline_s):
        raise ValueError(f"unpaired times: {len(submission_s)} submission, {len(baseline_s)} baseline")
    if any(t <= 0 for t in (*submission_s, *baseline_s)):
        raise ValueError("times must be positive")
    logs = [math.log(b / a) for a, b in zip(submission_s, baseline_s, strict=True)]
    estimate, low, high, achieved = hodges_lehmann(logs, confidence)
    return math.exp(estimate), math.exp(low), math.exp(high), achieved


# --- measurement ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    """The submission's speedup over the baseline, timed interleaved in one sandbox."""

    #: Hodges-Lehmann estimate of baseline time / submission time.
    speedup: float
    #: The interval around it, and the confidence it has (at least the one asked for when
    #: there are enough rounds).
    low: float
    high: float
    confidence: float
    #: wall | cpu: which time was compared.
    clock: str
    #: Measured times of each round, seconds (the compared clock), and the order of each round.
    submission_s: tuple[float, ...]
    baseline_s: tuple[float, ...]
    order: tuple[str, ...]
    warmup: int
    #: Both clocks of every run, warm-up included: [{"who": "submission", "round": -1, ...}].
    runs: tuple[dict[str, Any], ...] = ()
    #: The confidence asked for (``confidence`` is what the rounds achieve).
    confidence_asked: float = DEFAULT_CONFIDENCE

    @property
    def rounds(self) -> int:
        return len(self.submission_s)

    @property
    def significant(self) -> bool:
        """The interval excludes 1: the submission is told apart from the baseline."""
        return not self.low <= 1.0 <= self.high

    @property
    def score(self) -> float:
        """The metric to record: the speedup, or 1.0 (the baseline's) when not significant."""
        return self.speedup if self.significant else 1.0

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(b / a for a, b in zip(self.submission_s, self.baseline_s, strict=True))

    @classmethod
    def from_runs(
        cls, runs: Sequence[dict[str, Any]], *, clock: Clock, confidence: float = DEFAULT_CONFIDENCE
    ) -> Timing:
        """The statistics of recorded runs (``runs`` as ``timed`` records them) on one clock."""
        key = {"wall": "wall_s", "cpu": "cpu_s"}[clock]
        by_round: dict[int, dict[str, float]] = {}
        order: dict[int, str] = {}
        for run in runs:
            if run["round"] >= 0:
                by_round.setdefault(run["round"], {})[run["who"]] = max(float(run[key]), 1e-9)
                order[run["round"]] = order.get(run["round"], "") + (
                    "A" if run["who"] == "submission" else "B"
                )
        rounds = sorted(by_round)
        submission_s = tuple(by_round[r]["submission"] for r in rounds)
        baseline_s = tuple(by_round[r]["baseline"] for r in rounds)
        speedup, low, high, achieved = paired_speedup(submission_s, baseline_s, confidence)
        return cls(
            speedup=speedup,
            low=low,
            high=high,
            confidence=achieved,
            clock=clock,
            submission_s=submission_s,
            baseline_s=baseline_s,
            order=tuple(order[r] for r in rounds),
            warmup=len({run["round"] for run in runs if run["round"] < 0}),
            runs=tuple(runs),
            confidence_asked=confidence,
        )

    def with_clock(self, clock: Clock) -> Timing:
        """The same runs compared on the other clock (every run records both)."""
        return Timing.from_runs(self.runs, clock=clock, confidence=self.confidence_asked)

    def to_json(self) -> dict[str, Any]:
        """What result.json records under ``details``."""
        return {
            "kind": "timed_speedup",
            "speedup": self.speedup,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "significant": self.significant,
            "score": self.score,
            "clock": self.clock,
            "rounds": self.rounds,
            "warmup": self.warmup,
            "order": list(self.order),
            "submission_s": list(self.submission_s),
            "baseline_s": list(self.baseline_s),
            "ratios": list(self.ratios),
            "runs": list(self.runs),
            "method": "paired rounds, alternating order; Hodges-Lehmann estimate of the log-ratios, "
            "exact Wilcoxon signed-rank interval",
        }

    def describe(self) -> str:
        verdict = "" if self.significant else " (interval contains 1: scored as no speedup)"
        return (
            f"speedup {self.speedup:.3f}x, {self.confidence:.0%} interval [{self.low:.3f}, {self.high:.3f}] "
            f"over {self.rounds} rounds of {self.clock} time{verdict}"
        )


Command = str | Callable[[int], str]
Check = Callable[[ExecResult, int, str], None]


def _command_for(command: Command, round_index: int) -> str:
    return command(round_index) if callable(command) else command


def timed_run(
    sandbox: Sandbox, command: str, *, timeout: float, linger: float = 2.0
) -> tuple[ExecResult, dict[str, Any]]:
    """Run ``command`` once under the timing wrapper: (its result, the wrapper's report).

    The report is stripped from the result's stdout; a missing report (the wrapper was
    killed by the timeout) raises TimingError.
    """
    wrapped = shlex.join(["python3", "-c", _WRAPPER, repr(float(linger)), command])
    result = sandbox.exec(wrapped, timeout=timeout)
    head, sep, tail = result.stdout.rpartition("\n" + _MARK)
    if result.timed_out or not sep:
        raise TimingError(f"{command!r}: {result.describe()}, no timing\n{result.output[-2000:]}")
    try:
        report = json.loads(tail.strip().splitlines()[0])
    except (ValueError, IndexError) as exc:
        raise TimingError(f"{command!r}: unreadable timing report {tail[:200]!r}") from exc
    return dataclasses.replace(result, stdout=head), report


def timed(
    sandbox: Sandbox,
    command: Command,
    baseline: Command,
    *,
    rounds: int = DEFAULT_ROUNDS,
    warmup: int = DEFAULT_WARMUP,
    clock: Clock = "wall",
    check: Check | None = None,
    timeout: float = 60.0,
    confidence: float = DEFAULT_CONFIDENCE,
    linger: float = 2.0,
) -> Timing:
    """Time ``command`` (the submission) against ``baseline``, interleaved, in ``sandbox``.

    ``command`` and ``baseline`` are shell commands, or functions of the round index
    (warm-up rounds are negative) that return one, so that each round can use fresh
    inputs (the same for both sides of a round). ``check(result, round, who)``, where
    ``who`` is "submission" or "baseline", is called on every run and raises
    (AssertionError) on a wrong output. A run that exits non-zero, times out after
    ``timeout`` seconds or leaves a process behind raises TimingError.

    ``clock`` "wall" (default: contention, I/O, waiting) compares elapsed time, "cpu"
    the user + system time of every process the command started.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got {rounds} and {warmup}")
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    sides = {"submission": command, "baseline": baseline}
    runs: list[dict[str, Any]] = []
    for index in range(-warmup, rounds):
        first_a = index % 2 == 0
        for who in ("submission", "baseline") if first_a else ("baseline", "submission"):
            cmd = _command_for(sides[who], index)
            result, report = timed_run(sandbox, cmd, timeout=timeout, linger=linger)
            runs.append({"who": who, "round": index, "wall_s": report["wall_s"], "cpu_s": report["cpu_s"]})
            if report["stragglers"]:
                raise TimingError(
                    f"the {who}'s run ({cmd!r}) left {report['stragglers']} process(es) running "
                    f"{linger:g} s after it exited; they were killed"
                )
            if not result.ok:
                raise TimingError(
                    f"the {who}'s run ({cmd!r}) failed: {result.describe()}\n{result.output[-2000:]}"
                )
            if check is not None:
                check(result, index, who)
    return Timing.from_runs(runs, clock=clock, confidence=confidence)
