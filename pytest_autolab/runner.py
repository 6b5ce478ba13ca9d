"""The task-running side of a session: what runs the verifier modules of tasks.

One ``TaskRunner`` lives in every pytest process that runs tests (a single
process, or each xdist worker; on an xdist controller it stays idle, as that
process runs no test). It collects task folders, asks the lab for each task's
verification, turns test reports into the task's verdict and puts the task's
result on the report of its last test, for the summary (summary.py) to collect::

    tasks           = {Path("/repo/tasks/x"): Task(...) | TaskFileError(...)}
    verifier_tests  = {"x": {"tasks/x/test_x.py::test_sorted", ...}}   # before any selection
    tests_started   = {"tasks/x/test_x.py::test_sorted"}
    lab.verdicts    = {"x": Verdict(failures=[...], metric=60.0, result=TaskResult(...))}

``EvaluateRunner`` is the same in the inner session of evaluate() (and of
validation): it verifies the snapshot it is handed and writes its one result
to the file the harness reads, instead of putting it on a report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .lab import Lab, NotVerified, Submission, Verdict
from .results import TaskResult, atomic_write_json, attach_result
from .sandboxes import STARTUP_SLACK_S, SandboxError, SnapshotError
from .settings import RunSettings
from .tasks import Task, TaskFileError, attempt_name, find_task_dir, load_task
from .validation import collect_items

__all__ = ["EvaluateRunner", "TaskFile", "TaskRunner", "TaskSchemaItem", "runner_of"]

#: The task (folder name) a collected item belongs to.
TASK_KEY = pytest.StashKey[str]()
#: Set on the items that are verifier tests of a task (not its task.toml item).
VERIFIER_TEST_KEY = pytest.StashKey[str]()


def runner_of(config: pytest.Config) -> TaskRunner:
    """The session's task runner (registered by the plugin in pytest_configure)."""
    runner = config.pluginmanager.get_plugin(TaskRunner.NAME)
    assert isinstance(runner, TaskRunner)
    return runner


class TaskRunner:
    """Runs the tasks' verifiers in this process: collection, verification, verdicts."""

    NAME = "autolab-runner"

    def __init__(self, config: pytest.Config, settings: RunSettings, *, active: bool, attempts: int) -> None:
        self.config = config
        self.settings = settings
        #: An autolab run (plugin.autolab_requested); elsewhere the runner leaves xdist alone.
        self.active = active
        #: --autolab-attempts: independent runs of each task's loop.
        self.attempts = attempts
        self._lab: Lab | None = None
        self.tasks: dict[Path, Task | TaskFileError] = {}
        #: Valid tasks with a collected test (a run's result folders to look for).
        self.task_names_seen: set[str] = set()
        #: Tasks with a test in the session's final selection (the ones expected to finish).
        self.tasks_selected: set[str] = set()
        #: Every verifier test of each task, as collected before any selection (node ids).
        self.verifier_tests: dict[str, set[str]] = {}
        #: Collectors inside a task (a test class) whose tests were never collected.
        self.unexpanded: dict[str, set[str]] = {}
        #: Verifier tests whose setup started in this process.
        self.tests_started: set[str] = set()

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = Lab(self.settings)
        return self._lab

    @property
    def notes(self) -> list[str]:
        """What the lab noticed on the way (a backend fallback, harness warnings)."""
        return self._lab.notes if self._lab is not None else []

    def task_at(self, task_dir: Path) -> Task | TaskFileError:
        task_dir = task_dir.resolve()
        if task_dir not in self.tasks:
            try:
                self.tasks[task_dir] = load_task(task_dir)
            except TaskFileError as exc:
                self.tasks[task_dir] = exc
        return self.tasks[task_dir]

    def verdict_of(self, run_name: str) -> Verdict | None:
        return self._lab.verdicts.get(run_name) if self._lab is not None else None

    def verification(self, task: Task) -> contextlib.AbstractContextManager[Submission]:
        """The lab's verification of the agent's files (see ``Lab.verification``)."""
        return self.lab.verification(
            task, missing=functools.partial(self.missing_tests, task.name, task.attempt)
        )

    def missing_tests(self, task_name: str, attempt: int = 0) -> list[str]:
        """Verifier tests of the task (of one attempt) that did not run (yet) in this process."""
        tests = self.verifier_tests.get(task_name, set())
        if attempt:
            tests = {t for t in tests if f"attempt-{attempt}" in t.rpartition("[")[2]}
        missing = tests - self.tests_started
        return sorted(missing | self.unexpanded.get(task_name, set()))

    #: A task's result goes on the report of its last test (for the summary); not in evaluate().
    attaches_results = True

    # -- collection -------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # K attempts: the module-scoped task fixture (and so the loop, the submission and every
        # verifier test) once per attempt, grouped by attempt.
        if not self.active or "autolab_task" not in metafunc.fixturenames:
            return
        if self.config.getoption("autolab_validate") or self.attempts == 1:
            return
        k = self.attempts
        metafunc.parametrize(
            "autolab_task",
            range(1, k + 1),
            indirect=True,
            scope="module",
            ids=[f"attempt-{i}" for i in range(1, k + 1)],
        )

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        parent = collection_path.parent
        if collection_path.name in ("environment", "solution") and (parent / "task.toml").is_file():
            return True  # the program under test and the answer key are never tests
        if (
            collection_path.suffix == ".py"
            and collection_path.name.startswith("test_")
            and (parent / "task.toml").is_file()
            and (isinstance(self.task_at(parent), TaskFileError) or config.getoption("autolab_validate"))
        ):
            # A broken task: its task.toml item reports why. In validation mode the verifier
            # module runs only inside the variants' verifications.
            return True
        if collection_path.name == "validation" and (parent / "task.toml").is_file():
            return True  # variant folders are files to verify, never tests
        return None

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.name == "task.toml":
            return TaskFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        # Innermost wrapper: sees what a verifier module holds before --lf (or any other
        # collection-time filter) drops tests, so that a task run in part is known as such.
        report = yield
        if isinstance(collector, (pytest.Session, pytest.Directory, TaskFile)):
            return report
        task_dir = find_task_dir(Path(collector.path).parent)
        if task_dir is None:
            return report
        name = task_dir.name
        pending = self.unexpanded.setdefault(name, set())
        pending.discard(collector.nodeid)
        if report.passed:
            tests = self.verifier_tests.setdefault(name, set())
            for node in report.result:
                if isinstance(node, pytest.Item):
                    tests.add(node.nodeid)
                else:
                    pending.add(node.nodeid)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        # A user's --timeout wins over the plugin's backstop (issue 7).
        timeout_plugin = (
            config.pluginmanager.hasplugin("timeout") and config.getoption("timeout", None) is None
        )
        for item in items:
            task_dir = find_task_dir(Path(item.path).parent)
            if task_dir is None:
                continue
            task = self.task_at(task_dir)
            if isinstance(task, TaskFileError):
                item.stash[TASK_KEY] = task_dir.name
                continue
            item.stash[TASK_KEY] = task.name
            if item.nodeid in self.verifier_tests.get(task.name, ()):
                item.stash[VERIFIER_TEST_KEY] = task.name
            self.task_names_seen.add(task.name)
            if (
                timeout_plugin
                and not isinstance(item, TaskSchemaItem)
                and not item.get_closest_marker("timeout")
            ):
                # A backstop only: the budget is enforced inside the loop (pytest-timeout's
                # signal method keeps teardown, hence container cleanup, working).
                backstop = (
                    task.agent_timeout_s * self.settings.budget_scale
                    + task.verifier_timeout_s
                    + STARTUP_SLACK_S
                )
                item.add_marker(pytest.mark.timeout(backstop, method="signal"))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            name = item.stash.get(VERIFIER_TEST_KEY, None)
            if name is not None:
                self.tasks_selected.add(name)

    # -- running ----------------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.tests_started.add(nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        name = item.stash.get(TASK_KEY, None)
        if name is None:
            return report
        if isinstance(item, TaskSchemaItem):
            if report.failed:
                result = TaskResult(
                    task=name,
                    axis="-",
                    status="invalid_task",
                    agent=self.settings.agent,
                    reason=str(call.excinfo.value) if call.excinfo else "invalid task.toml",
                )
                attach_result(report, result)
            return report
        verdict = self.verdict_of(attempt_name(name, _attempt_of(item)))
        if verdict is None:
            return report
        if report.failed and (verdict.result is None or report.when == "call"):
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, SandboxError) and not isinstance(error, SnapshotError):
                # The engine failed (a container gone, an API error), not the submission: a file
                # the submission left that cannot be copied out (SnapshotError) stays its fault.
                verdict.harness_errors.append(f"{item.name} ({report.when}): {error}")
            else:
                verdict.failures.append(f"{item.name} ({report.when}): {_failure_text(report)}")
        if verdict.result is not None and not verdict.reported and self.attaches_results:
            attach_result(report, verdict.result)
            verdict.reported = True
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        # Before the summary reads the results: a task whose tests failed but that no
        # verification scored gets its result on disk at least.
        if self._lab is not None:
            self._lab.record_unscored(lambda task: self.missing_tests(task.name, task.attempt))
        return (yield)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._lab is not None:
            self._lab.close()  # the engine client's connections, not the results


class EvaluateRunner(TaskRunner):
    """The task runner of evaluate()'s inner session (``--autolab-evaluate=<snapshot dir>``):
    it verifies that snapshot, with the public seed or ``--autolab-evaluate-seed``, and writes
    the result to ``--autolab-evaluate-out``; nothing is recorded in the run."""

    attaches_results = False

    def __init__(self, config: pytest.Config, settings: RunSettings, *, snapshot_dir: Path) -> None:
        super().__init__(config, settings, active=True, attempts=1)
        self.snapshot_dir = snapshot_dir

    def verification(self, task: Task) -> contextlib.AbstractContextManager[Submission]:
        root = self.snapshot_dir
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        return self.lab.verification(
            task,
            missing=functools.partial(self.missing_tests, task.name, task.attempt),
            snapshot=files,
            seed=self.config.getoption("autolab_evaluate_seed"),
        )

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        return None  # one verification of one snapshot, whatever the project's ini says

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        out = self.config.getoption("autolab_evaluate_out")
        if out:
            verdicts: Sequence[Verdict] = list(self._lab.verdicts.values()) if self._lab is not None else []
            if not verdicts:
                result = TaskResult(task="?", axis="-", status="error", agent="evaluate",
                                    reason="the verifier module ran no test that uses the submission fixture")  # fmt: skip
            else:
                verdict = verdicts[0]
                result = verdict.result or self.lab.score(verdict.task, verdict, None)
            atomic_write_json(Path(out), result.to_json())
        return (yield)


def verify(config: pytest.Config, task: Task) -> Iterator[Submission]:
    """The ``submission`` fixture's body: the task's verification, its NotVerified as a skip
    (the agent's outcome) or a failure (the harness's)."""
    try:
        with runner_of(config).verification(task) as submission:
            yield submission
    except NotVerified as exc:
        if exc.error:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def task_of_request(request: pytest.FixtureRequest) -> Task:
    """The task whose verifier module asks (the ``autolab_task`` fixture), one attempt of it
    under --autolab-attempts."""
    task_dir = find_task_dir(Path(request.path).parent)
    if task_dir is None:
        raise pytest.UsageError(
            f"{request.path}: autolab fixtures work only in a task's verifier module (a folder with a task.toml)"
        )
    task = runner_of(request.config).task_at(task_dir)
    if isinstance(task, TaskFileError):
        raise task
    attempt = getattr(request, "param", None)
    if isinstance(attempt, int):  # --autolab-attempts: one independent run of the loop
        task = dataclasses.replace(task, attempt=attempt)
    return task


def _attempt_of(item: pytest.Item) -> int:
    """The attempt a test belongs to (--autolab-attempts), 0 without attempts."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("autolab_task") if callspec is not None else None
    return value if isinstance(value, int) else 0


def _failure_text(report: pytest.TestReport, limit: int = 1500) -> str:
    text = report.longreprtext or ""
    chain = getattr(report.longrepr, "chain", None)
    if chain and getattr(chain[-1][0], "style", None) == "value":
        return text.strip()[:limit]  # pytest.fail(msg, pytrace=False): the message is the whole story
    lines = [ln[2:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    notes = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Falsifying example")]
    picked = "\n".join([*lines, *notes]) or (text.strip().splitlines() or ["failed"])[-1]
    return picked[:limit]


# --- task.toml as a collected item ----------------------------------------------------------------


class TaskFile(pytest.File):
    """A task.toml: collected as one item that checks the file, so a broken task
    is reported where it is and the other tasks carry on."""

    def collect(self) -> Iterator[pytest.Item]:
        yield TaskSchemaItem.from_parent(self, name="schema")
        if self.config.getoption("autolab_validate"):
            task = runner_of(self.config).task_at(self.path.parent)
            if not isinstance(task, TaskFileError):
                yield from collect_items(self, task)


class TaskSchemaItem(pytest.Item):
    """Passes when the task folder and its task.toml are valid."""

    def runtest(self) -> None:
        task = runner_of(self.config).task_at(self.path.parent)
        if isinstance(task, TaskFileError):
            raise task

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TaskFileError):
            return f"invalid task: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.parent.name}/task.toml"
