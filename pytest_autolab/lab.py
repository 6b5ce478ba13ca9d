"""The lab: runs each task's agent loop once and verifies what it leaves.

One Lab lives per pytest process (per xdist worker). It owns the sandbox
backend, the agent factory, the run directory and one Verdict and AgentRun per
task, so the loop runs once however many verifier tests ask for it. The
verifier's ``submission`` fixture makes one call::

    with lab.verification(task) as submission:   # resume, agent loop, FRESH sandbox
        ...the verifier's tests fill lab.verdict(task)...
    # closed, scored (scoring.score) and result.json written

or gets ``NotVerified`` (resumed, the loop failed, no sandbox): the result is
recorded already and the message says why. The parts, for tests and tools::

    lab.agent_run(task)        -> AgentRun   provision, agent loop, snapshot
    lab.open_submission(...)   -> Submission a FRESH sandbox + the files + a seed
    lab.score(task, verdict)   -> TaskResult (lab.record writes it atomically)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from . import scoring
from .agents import Agent, AgentContext, AgentError, AgentOutcome, Cancellable, load_agent
from .evaluation import Evaluation, run_verifier
from .ledger import Ledger, hidden_curve, improvement_entries, snapshot_hash
from .measure import Counts, callgrind
from .results import (
    FINISHED,
    HiddenLoop,
    ReverifiedSnapshot,
    TaskResult,
    atomic_write_json,
    atomic_write_text,
    load_result,
    write_files,
)
from .sandboxes import (
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_SESSION,
    LABEL_TASK,
    ExecResult,
    Sandbox,
    SandboxBackend,
    SandboxError,
    SnapshotError,
    get_backend,
)
from .settings import RunSettings, hidden_seed, write_run_json
from .tasks import Task
from .timing import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_WARMUP, Check, Clock, Command, Timing, timed
from .tools import Budget, BudgetExhausted, LabTools

__all__ = [
    "AgentRun",
    "Lab",
    "NotVerified",
    "RecordMetric",
    "RunSettings",
    "Submission",
    "Verdict",
    "json_safe",
    "printable",
]

#: Seconds a sandbox outlives the work it was started for (start-up, snapshot, teardown).
SANDBOX_SLACK_S = 300.0
#: Most improvements of the loop re-verified on the hidden seed (the latest ones).
MAX_REVERIFIED = 10


def hang_grace_s(budget_s: float) -> float:
    """Seconds an agent may run past its budget before it is abandoned as hung."""
    return min(30.0, 5.0 + 0.1 * budget_s)


def printable(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (from bytes decoded with surrogateescape,
    or an agent's exception) becomes a backslash escape instead of a crash when written."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that json.dumps accepts: what an agent reports may hold anything."""
    if depth > 20:
        return "..."
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {printable(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, depth + 1) for v in value]
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return printable(text)[:500]


def _describe_exception(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    return printable(f"{type(exc).__name__}: {message}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass
class AgentRun:
    """What one agent loop left behind."""

    #: ok | agent_error | agent_timeout | rejected | error
    status: str
    #: The editable files to score (final or best, per --autolab-submit).
    files: dict[str, bytes]
    reason: str = ""
    agent_time_s: float = 0.0
    budget: dict[str, float] = dataclasses.field(default_factory=dict)
    evaluations: int = 0
    outcome: AgentOutcome | None = None
    ledger: Ledger | None = None
    started_at: str = ""
    #: Hash of the editable files the agent left (what --autolab-submit=final scores).
    final_snapshot: str = ""
    #: The loop's figures with its improvements re-verified on the hidden seed.
    hidden_loop: HiddenLoop = dataclasses.field(default_factory=lambda: HiddenLoop())


@dataclasses.dataclass
class Verdict:
    """What the verifier tests of one task found; filled as the tests run."""

    task: Task
    #: "nodeid: message" of every failing test.
    failures: list[str] = dataclasses.field(default_factory=list)
    metric: float | None = None
    #: How the metric was measured (``record_metric(value, details=...)``): a count's tool and
    #: cache model, a timed speedup's times and interval.
    details: dict[str, Any] | None = None
    #: Verifier tests that did not run (a selection, -x): the task is then not scored.
    missing: list[str] = dataclasses.field(default_factory=list)
    #: Failures of the harness itself inside a verifier test (the sandbox's engine refused a
    #: command): no verdict on the submission, so the task ends ``error``, not ``incorrect``.
    harness_errors: list[str] = dataclasses.field(default_factory=list)
    #: The final result, once known (scored, or carried over, or a failed run).
    result: TaskResult | None = None
    #: The result was attached to a test report already.
    reported: bool = False


class RecordMetric(Protocol):
    """The ``record_metric`` fixture: records the task's metric once, with how it was measured."""

    def __call__(self, value: float, details: Mapping[str, Any] | None = None) -> None: ...


class NotVerified(Exception):
    """There is nothing to verify: the task finished in a resumed run, its loop failed, or
    the verification sandbox did not start. Its result is on the verdict (and on disk)."""

    def __init__(self, message: str, *, error: bool) -> None:
        super().__init__(message)
        #: A failure of the harness (the test errs), not the agent's outcome (the test skips).
        self.error = error


class Submission:
    """The files under test, in a fresh sandbox: what a verifier module talks to."""

    def __init__(
        self,
        task: Task,
        sandbox: Sandbox,
        *,
        seed: int,
        hidden: bool,
        opener: Callable[[Mapping[str, bytes]], Submission] | None = None,
    ) -> None:
        self.task = task
        self.sandbox = sandbox
        #: Seed of the inputs: hidden in the final verification, public in evaluate().
        self.seed = seed
        self.hidden = hidden
        self._opener = opener

    def fresh(self, files: Mapping[str, bytes]) -> Submission:
        """Another FRESH sandbox from the pristine environment with ``files`` put in, and the
        same seed: for a step that must not see this submission's sandbox (a decoder that
        must not reach the originals). Close it when done; ``with`` does."""
        if self._opener is None:
            raise RuntimeError("this submission was not opened by the lab: it cannot open another")
        return self._opener(files)

    def __enter__(self) -> Submission:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def exec(self, command: str, *, timeout: float = 60.0, stdin: bytes | None = None) -> ExecResult:
        """Run ``bash -c command`` in the app dir."""
        return self.sandbox.exec(command, timeout=timeout, stdin=stdin)

    def write_file(self, path: str, data: bytes | str) -> None:
        self.sandbox.write_files({path: data.encode() if isinstance(data, str) else data})

    def read_file(self, path: str) -> bytes:
        return self.sandbox.read_file(path)

    def callgrind(self, command: str, *, cache_sim: bool = False, timeout: float = 600) -> Counts:
        """Count the instructions (and optionally cycles) of ``command`` under Callgrind."""
        return callgrind(self.sandbox, command, cache_sim=cache_sim, timeout=timeout)

    def timed(
        self,
        command: Command,
        baseline: Command,
        *,
        rounds: int = DEFAULT_ROUNDS,
        warmup: int = DEFAULT_WARMUP,
        clock: Clock = "wall",
        check: Check | None = None,
        timeout: float = 60.0,
        confidence: float = DEFAULT_CONFIDENCE,
    ) -> Timing:
        """Time ``command`` against the pristine ``baseline`` built in this sandbox, interleaved
        (see pytest_autolab.timing): record ``timing.score`` with ``details=timing.to_json()``."""
        return timed(
            self.sandbox,
            command,
            baseline,
            rounds=rounds,
            warmup=warmup,
            clock=clock,
            check=check,
            timeout=timeout,
            confidence=confidence,
        )

    def close(self) -> None:
        self.sandbox.close()


class Lab:
    """The session's lab: backend, agent, run directory and one AgentRun per task."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self.notes: list[str] = []
        self._backend: SandboxBackend | None = None
        self._agent: Agent | None = None
        self._runs: dict[str, AgentRun] = {}
        #: What the verifier tests found, per task run (``task`` or ``task@k``).
        self.verdicts: dict[str, Verdict] = {}
        self._lock = threading.Lock()
        #: Number of agent loops actually run, per task (tests check it is one).
        self.loops_run: dict[str, int] = {}

    # -- parts, created on first use so that a suite without tasks pays nothing ---------------

    @property
    def backend(self) -> SandboxBackend:
        if self._backend is None:
            self._backend = get_backend(
                self.settings.sandbox,
                run_id=self.settings.run_id,
                session=self.settings.session,
                notes=self.notes,
                hide=self.hidden_folders(),
            )
            self._note_backend()
            orphans = self._backend.orphans_removed
            if orphans:
                self.notes.append(
                    f"removed {orphans} Docker container(s) left by an earlier harness that died "
                    "(killed, or crashed) before it could clean up"
                )
        return self._backend

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = load_agent(self.settings.agent, self.settings.agent_options)
        return self._agent

    def _note_backend(self) -> None:
        note = getattr(self._backend, "note", None)  # optional (SandboxBackend)
        if isinstance(note, str) and note not in self.notes:
            self.notes.append(note)

    def task_dir(self, task: Task) -> Path:
        return self.settings.run_dir / task.run_name

    def hidden_folders(self) -> list[Path]:
        """What the local sandbox hides from commands: this run's directory, and the folder
        of every run beside it (earlier runs' run.json and result.json)."""
        run_dir = self.settings.run_dir
        return [run_dir.parent if run_dir.parent.name == "runs" else run_dir]

    def labels(self, task: Task, role: str) -> dict[str, str]:
        labels = {LABEL_RUN: self.settings.run_id, LABEL_TASK: task.name, LABEL_ROLE: role}
        return {**labels, **({LABEL_SESSION: self.settings.session} if self.settings.session else {})}

    def budget(self, task: Task) -> Budget:
        scale = self.settings.budget_scale
        return Budget(
            time_s=task.agent_timeout_s * scale,
            max_evaluations=max(1, round(task.max_evaluations * scale)),
        )

    @contextlib.contextmanager
    def harness_warnings(self) -> Iterator[None]:
        """Keep the harness's (and the agent's) warnings out of the verifier's tests.

        The agent loop and the sandbox set-up run inside the first verifier test's fixtures,
        where a project's ``filterwarnings = error`` would turn a harness warning (an unclosed
        file of a cold image build) into a failed test and decide the verdict. Here they are
        recorded and shown as notes; a garbage collection finalises what was left unclosed
        here rather than in a verifier test.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                gc.collect()
        for warning in caught:
            where = f"{Path(warning.filename).name}:{warning.lineno}"
            note = printable(f"harness warning ({where}): {warning.category.__name__}: {warning.message}")
            if note not in self.notes:
                self.notes.append(note[:500])

    # -- resume -------------------------------------------------------------------------------

    def finished_result(self, task: Task) -> TaskResult | None:
        """The result of an earlier run of this task, if resuming and it finished."""
        if not self.settings.resume:
            return None
        result = load_result(self.task_dir(task) / "result.json")
        if result is None or result.status not in FINISHED:
            return None
        result.resumed = True
        return result

    # -- the agent loop -----------------------------------------------------------------------

    def agent_run(self, task: Task) -> AgentRun:
        """Run the agent on ``task`` once (cached): provision, loop, snapshot."""
        with self._lock:
            if task.run_name not in self._runs:
                run = self._run_agent(task)
                if run.ledger is not None and run.status != "error":
                    run.hidden_loop = self.reverify_improvements(
                        task, run.ledger, run.budget.get("time_s", 0.0)
                    )
                self._runs[task.run_name] = run
            return self._runs[task.run_name]

    def reverify_improvements(self, task: Task, ledger: Ledger, budget_s: float) -> HiddenLoop:
        """Verify the snapshots where the loop's best-so-far curve rose again, on the hidden
        seed: evaluate() uses the public one, so a hard-coded public answer would inflate
        best n and the anytime score (issue 7). Few snapshots: only the improvements."""
        points = improvement_entries(ledger.entries)
        if not points:
            return HiddenLoop()
        started = time.monotonic()
        seed = hidden_seed(self.settings.seed, task)
        checked: dict[str, ReverifiedSnapshot] = {}
        for point in points[-MAX_REVERIFIED:]:
            digest = point["snapshot"]
            if digest in checked:
                continue
            scratch = self.task_dir(task) / "reverify" / digest
            scratch.mkdir(parents=True, exist_ok=True)
            evaluation = run_verifier(
                task, ledger.snapshot_files(digest), scratch=scratch, sandbox=self.backend.name,
                run_id=self.settings.run_id, session=self.settings.session, run_dir=self.settings.run_dir,
                seed=seed,
            )  # fmt: skip
            checked[digest] = ReverifiedSnapshot(
                snapshot=digest,
                t_s=point["t_s"],
                n_public=point["n"],
                status=evaluation.status,
                n=evaluation.n if evaluation.correct else None,
            )
        figures = hidden_curve(points, {d: c["n"] for d, c in checked.items()}, budget_s)
        figures["verified"] = len(checked)
        figures["improvements"] = len(points)
        figures["snapshots"] = list(checked.values())
        figures["time_s"] = round(time.monotonic() - started, 3)
        return figures

    def _run_agent(self, task: Task) -> AgentRun:
        self.loops_run[task.run_name] = self.loops_run.get(task.run_name, 0) + 1
        write_run_json(self.settings)  # up front: an interrupted run can be found and resumed
        folder = self.task_dir(task)
        log_dir = folder / "agent"
        log_dir.mkdir(parents=True, exist_ok=True)
        # A rerun of an unfinished task starts its ledger afresh.
        (folder / "ledger.jsonl").unlink(missing_ok=True)
        budget = self.budget(task)
        budget_info = {"time_s": budget.time_s, "max_evaluations": budget.max_evaluations}
        started_at = _now()
        try:
            agent = self.agent
            self.backend.prepare(task)
            sandbox = self.backend.start(
                task,
                role="agent",
                labels=self.labels(task, "agent"),
                lifetime_s=budget.time_s + hang_grace_s(budget.time_s) + SANDBOX_SLACK_S,
            )
        except (AgentError, SandboxError) as exc:
            return AgentRun("error", {}, reason=str(exc), budget=budget_info, started_at=started_at)
        self._note_backend()

        ledger = Ledger(folder)
        # For the live progress lines (progress.py): the loop's budget and start.
        from .progress import PROGRESS_FILE

        atomic_write_json(folder / PROGRESS_FILE, {"task": task.run_name, "started": time.time(),
                          "budget_s": budget.time_s, "max_evaluations": budget.max_evaluations})  # fmt: skip
        tools = LabTools(
            task=task,
            sandbox=sandbox,
            budget=Budget(budget.time_s, budget.max_evaluations),
            evaluator=lambda files, limit_s=None: self.evaluate(task, files, limit_s=limit_s),
            ledger=ledger,
        )
        ctx = AgentContext(
            task=task,
            instruction=task.instruction,
            sandbox=sandbox,
            budget=tools.budget,
            tools=tools,
            log_dir=log_dir,
        )
        box: dict[str, Any] = {}

        def loop() -> None:
            try:
                box["outcome"] = agent.run(ctx)
            except BudgetExhausted as exc:
                box["outcome"] = AgentOutcome(message=str(exc), stop_reason="budget")
            except BaseException as exc:
                box["error"] = exc
                box["traceback"] = traceback.format_exc()

        thread = threading.Thread(target=loop, name=f"autolab-agent-{task.name}", daemon=True)
        start = time.monotonic()
        thread.start()
        grace = hang_grace_s(tools.budget.time_s)
        thread.join(tools.budget.time_s + grace)
        elapsed = time.monotonic() - start

        def done(
            status: str, files: dict[str, bytes], reason: str = "", outcome: AgentOutcome | None = None
        ) -> AgentRun:
            return AgentRun(
                status,
                files,
                reason=reason,
                agent_time_s=elapsed,
                budget=budget_info,
                evaluations=tools.budget.evaluations_used,
                outcome=outcome,
                ledger=ledger,
                started_at=started_at,
            )

        try:
            if thread.is_alive():
                if isinstance(agent, Cancellable):
                    agent.cancel()
                return done(
                    "agent_timeout",
                    {},
                    f"the agent did not stop within its budget ({budget.time_s:.0f} s) "
                    f"plus {grace:.0f} s of grace; it was abandoned",
                )
            if "error" in box:
                atomic_write_text(log_dir / "error.txt", printable(box["traceback"]))
                return done("agent_error", {}, f"the agent crashed: {_describe_exception(box['error'])}")
            outcome = box.get("outcome")
            if outcome is None:
                outcome = AgentOutcome()
            elif not isinstance(outcome, AgentOutcome):
                return done(
                    "agent_error",
                    {},
                    printable(f"the agent's run() returned {type(outcome).__name__}, "
                              "expected an AgentOutcome or None")[:500],
                )  # fmt: skip
            # Whatever the agent put in it must not break result.json or the report.
            usage = outcome.usage if isinstance(outcome.usage, Mapping) else {"usage": outcome.usage}
            outcome = AgentOutcome(
                message=printable(str(outcome.message)),
                stop_reason=printable(str(outcome.stop_reason)),
                usage=json_safe(usage),
            )
            try:
                files = sandbox.snapshot(task.editable)
            except SnapshotError as exc:
                return done("rejected", {}, str(exc), outcome)
            final_snapshot = snapshot_hash(files)
            best = ledger.best_entry()
            if self.settings.submit == "best" and best is not None:
                files = ledger.snapshot_files(best["snapshot"])
            write_files(folder / "submission", files)
            run = done("ok", files, outcome=outcome)
            run.final_snapshot = final_snapshot
            return run
        finally:
            sandbox.close()

    # -- evaluation and verification --------------------------------------------------------

    def verdict(self, task: Task) -> Verdict:
        """The verdict of a task run, filled by its verifier tests."""
        if task.run_name not in self.verdicts:
            self.verdicts[task.run_name] = Verdict(task)
        return self.verdicts[task.run_name]

    @contextlib.contextmanager
    def verification(
        self,
        task: Task,
        *,
        missing: Callable[[], Sequence[str]] = tuple,
        snapshot: Mapping[str, bytes] | None = None,
        seed: int | None = None,
    ) -> Iterator[Submission]:
        """The whole verification of a task: its files in a FRESH sandbox while the verifier
        runs, then the sandbox closed and the task scored and recorded.

        In a benchmark run the files are what the agent loop left (run once per task, or
        the task's result is kept from an earlier run by --autolab-resume) and the seed is
        the hidden one. Given a ``snapshot`` (evaluate(), validation), those files are
        verified with the public seed, or ``seed``, and nothing is recorded. ``missing``
        names, at the end, the verifier tests that did not run. Raises NotVerified when
        there is nothing to verify.
        """
        verdict = self.verdict(task)
        run: AgentRun | None = None
        if snapshot is None:
            prior = self.finished_result(task)
            if prior is not None:
                verdict.result = prior
                raise NotVerified(
                    f"finished in an earlier run ({prior.status}, reward {prior.reward:.3f}): "
                    "kept by --autolab-resume",
                    error=False,
                )
            with self.harness_warnings():
                run = self.agent_run(task)
            if run.status != "ok":
                verdict.result = self.unverified_result(task, run, run.status, run.reason)
                self.record(verdict.result)
                if run.status == "error":
                    # The harness could not run the task: an error of the session, not a skip.
                    raise NotVerified(f"not verified: harness error: {run.reason}", error=True)
                raise NotVerified(f"not verified: {run.status}: {run.reason}", error=False)
            files: Mapping[str, bytes] = run.files
            hidden = True
        else:
            files = snapshot
            hidden = seed is not None  # validation verifies a variant with the hidden seed
        started = time.monotonic()
        try:
            with self.harness_warnings():
                submission = self.open_submission(task, files, hidden=hidden, seed=seed)
        except SandboxError as exc:
            result = self.unverified_result(
                task, run, "error", f"could not start the verification sandbox: {exc}"
            )
            verdict.result = result
            if snapshot is None:
                self.record(result)
            raise NotVerified(result.reason, error=True) from exc
        try:
            yield submission
        finally:
            with self.harness_warnings():
                submission.close()
                verdict.missing = list(missing())
                verdict.result = self.score(task, verdict, run, verify_time_s=time.monotonic() - started)
                if snapshot is None:
                    self.record(verdict.result)

    def record_unscored(self, missing: Callable[[Task], Sequence[str]]) -> None:
        """Score and record the verdicts no verification scored (its sandbox never opened, but
        tests failed), so that their result is on disk at least."""
        for verdict in self.verdicts.values():
            if verdict.result is None and verdict.failures:
                verdict.missing = list(missing(verdict.task))
                verdict.result = self.score(verdict.task, verdict, None)
                self.record(verdict.result)

    def evaluate(self, task: Task, files: Mapping[str, bytes], *, limit_s: float | None = None) -> Evaluation:
        """evaluate(): the verifier on public inputs, in a scratch sandbox of its own.

        ``limit_s`` (the agent's time left) cuts an evaluation at the deadline.
        """
        scratch = self.task_dir(task) / "evaluations" / f"{time.time_ns()}"
        return self.verify_in_child(task, files, scratch=scratch, limit_s=limit_s)

    def verify_in_child(
        self,
        task: Task,
        files: Mapping[str, bytes],
        *,
        scratch: Path,
        seed: int | None = None,
        limit_s: float | None = None,
    ) -> Evaluation:
        """The task's verifier on ``files`` in a child pytest (evaluate(), validation), with the
        public seed unless ``seed`` is given; its files go under ``scratch``."""
        scratch.mkdir(parents=True, exist_ok=True)
        return run_verifier(
            task,
            files,
            scratch=scratch,
            sandbox=self.backend.name,
            run_id=self.settings.run_id,
            session=self.settings.session,
            run_dir=self.settings.run_dir,
            limit_s=limit_s,
            seed=seed,
        )

    def open_submission(
        self, task: Task, files: Mapping[str, bytes], *, hidden: bool, seed: int | None = None
    ) -> Submission:
        """A FRESH sandbox from the pristine environment with ``files`` put in.

        The seed is the run's hidden one for a final verification, the public one for
        evaluate(), unless ``seed`` is given (validation: the hidden seed, passed down).
        """
        role = "verify" if hidden else "evaluate"
        self.backend.prepare(task)
        sandbox = self.backend.start(
            task,
            role=role,
            labels=self.labels(task, role),
            lifetime_s=task.verifier_timeout_s + SANDBOX_SLACK_S,
        )
        self._note_backend()
        try:
            sandbox.write_files(files)
        except BaseException:
            sandbox.close()
            raise
        if seed is None:
            seed = hidden_seed(self.settings.seed, task) if hidden else task.public_seed
        chosen = seed
        return Submission(
            task,
            sandbox,
            seed=seed,
            hidden=hidden,
            opener=lambda more: self.open_submission(task, more, hidden=hidden, seed=chosen),
        )

    # -- results ------------------------------------------------------------------------------

    def base_result(self, task: Task, run: AgentRun | None) -> TaskResult:
        result = TaskResult(
            task=task.name,
            axis=task.axis,
            status="error",
            agent=self.settings.agent,
            metric_name=task.metric,
            direction=task.direction,
            scale=task.scale,
            baseline=task.baseline,
            reference=task.reference,
            ref_reward=task.ref_reward,
            seed=hidden_seed(self.settings.seed, task),
            attempt=task.attempt,
            sandbox=self._backend.name if self._backend else self.settings.sandbox,
            finished_at=_now(),
            notes=list(self.notes),
        )
        if run is not None:
            result.budget = dict(run.budget)
            result.agent_time_s = round(run.agent_time_s, 3)
            result.evaluations = run.evaluations
            result.started_at = run.started_at
            result.submission = sorted(run.files)
            if run.outcome is not None:
                result.usage = {**run.outcome.usage, "stop_reason": run.outcome.stop_reason}
                if run.outcome.message:
                    result.usage["message"] = run.outcome.message[:2000]
            if run.ledger is not None:
                result.loop = run.ledger.summarize(
                    run.budget.get("time_s", 0.0), final_snapshot=run.final_snapshot or None
                )
                result.loop["submitted"] = self.settings.submit
                result.loop["submitted_snapshot"] = snapshot_hash(run.files) if run.files else None
                if run.hidden_loop:
                    result.loop["hidden"] = run.hidden_loop
        return result

    def score(
        self, task: Task, verdict: Verdict, run: AgentRun | None, *, verify_time_s: float = 0.0
    ) -> TaskResult:
        """Turn the verifier's findings into a result (not written: see ``record``)."""
        result = self.base_result(task, run)
        result.verify_time_s = round(verify_time_s, 3)
        result.failures = list(verdict.failures)
        found = scoring.score(
            verdict.metric,
            baseline=task.baseline,
            reference=task.reference,
            scale=task.scale,
            direction=task.direction,
            ref_reward=task.ref_reward,
            min_improvement=task.min_improvement,
            failures=verdict.failures,
            harness_errors=verdict.harness_errors,
            missing=verdict.missing,
        )
        result.status, result.reason = found.status, found.reason
        if found.status == "scored":
            result.correct, result.n, result.reward, result.speedup = (
                True,
                found.n,
                found.reward,
                found.speedup,
            )
            result.metric = verdict.metric
            result.details = verdict.details
        return result

    def unverified_result(self, task: Task, run: AgentRun | None, status: str, reason: str) -> TaskResult:
        """The result of a task that was not verified: its loop failed, or no sandbox started."""
        result = self.base_result(task, run)
        result.status = status
        result.reason = printable(reason)
        return result

    def record(self, result: TaskResult) -> None:
        """Write result.json atomically (not for resumed results: they are on disk)."""
        if not result.resumed:
            atomic_write_json(self.task_dir_named(result.run_name) / "result.json", result.to_json())

    def close(self) -> None:
        """Release the backend's resources (a Docker client's connections)."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def task_dir_named(self, name: str) -> Path:
        return self.settings.run_dir / name
