"""The pytest plugin: options, collection of task folders, fixtures and the summary.

It wires pytest's hooks to the parts (tasks, lab, scoring, results, report)
without doing their work. State lives in one ``AutolabPlugin`` object per
pytest process, registered in ``pytest_configure``.

Data flow under xdist: the controller decides the run (id, folder, seed) and
sends it to the workers; each worker runs the agent loop of the tasks it is
given (a task's tests stay on one worker: see scheduling.py), scores them and
puts the result on a test report (an ``autolab_result`` attribute: xdist sends a report's
``__dict__`` and ``TestReport(**extra)`` keeps it); the controller collects those reports,
prints the table, writes summary.json and puts each task's n, metric, reward and status in
the JUnit XML as suite properties (xunit2 allows no properties on test cases).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import html
import json
import math
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .agents import AgentError, load_agent, resolve_agent
from .lab import Lab, NotVerified, Submission, Verdict
from .progress import ProgressWatcher, open_terminal_writer
from .report import format_table, summarize
from .results import TaskResult, atomic_write_json, load_result
from .sandboxes import SandboxError, SnapshotError, sweep_run
from .settings import RunSettings, SettingsError, run_folder, run_seed, write_run_json
from .tasks import Task, TaskFileError, attempt_name, find_task_dir, load_task
from .validation import ValidationPlugin, collect_items

__all__ = ["AutolabPlugin"]

TASK_KEY = pytest.StashKey[str]()
PLUGIN_NAME = "autolab-state"
#: Seconds added to the per-test timeout backstop for image builds and start-up.
TIMEOUT_SLACK_S = 960.0


# --- options -----------------------------------------------------------------------------------


#: dest -> default of every --autolab-* option: one set otherwise means an autolab run.
_OPTION_DEFAULTS: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autolab", "pytest-autolab: benchmark agents on optimisation tasks")
    group.addoption(
        "--autolab-agent",
        metavar="NAME",
        default=None,
        help="agent to benchmark: nop (default), oracle, llm, claude, codex, an entry point "
        "of the pytest_autolab.agents group, or module:Class",
    )
    group.addoption(
        "--autolab-agent-option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="option passed to the agent's constructor (repeatable), e.g. model=gpt-4.1",
    )
    group.addoption(
        "--autolab-sandbox",
        metavar="BACKEND",
        default="auto",
        choices=("auto", "docker", "local"),
        help="auto (Docker where an engine answers, else local), docker or local",
    )
    group.addoption(
        "--autolab-run-dir",
        metavar="DIR",
        default=None,
        help="run directory (default .autolab/runs/<run id> under the rootdir)",
    )
    group.addoption(
        "--autolab-results",
        metavar="PATH",
        default=None,
        help="also write the summary JSON here",
    )
    group.addoption(
        "--autolab-resume",
        action="store_true",
        default=False,
        help="keep the finished tasks of --autolab-run-dir (default: the latest run) and run the rest",
    )
    group.addoption(
        "--autolab-budget-scale",
        metavar="X",
        type=float,
        default=1.0,
        help="multiply every task's time budget and evaluations by X (quick runs: 0.1)",
    )
    group.addoption(
        "--autolab-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed the hidden inputs derive from (default: random, recorded in run.json)",
    )
    group.addoption(
        "--autolab-submit",
        default="final",
        choices=("final", "best"),
        help="score the agent's final files (default, as AutoLab) or its best evaluated snapshot",
    )
    group.addoption(
        "--autolab-attempts",
        metavar="K",
        type=int,
        default=1,
        help="run each task's agent loop K times independently (own sandbox, seed stream and "
        "folder <task>@<k>); the summary gives mean ± standard error and best of K",
    )
    group.addoption(
        "--autolab-progress",
        default="on",
        choices=("on", "off"),
        help="print a line per running task as its loop moves (evaluations, best n) and as it "
        "finishes, also under -n N (default on)",
    )
    group.addoption(
        "--autolab-validate",
        action="store_true",
        default=False,
        help="validate the tasks instead of running an agent: the baseline must score 0, the "
        "reference n = 1, every rung under validation/rungs/ strictly between and in order, every "
        "cheat under validation/cheats/ 0 (docs/tasks.md)",
    )
    group.addoption(
        "--autolab-validate-repeat",
        metavar="K",
        type=int,
        default=1,
        help="with --autolab-validate: verify the reference K times; a counted metric must repeat exactly",
    )
    # Internal: the evaluate() tool runs a task's verifier in a child pytest with these.
    group.addoption("--autolab-evaluate", metavar="DIR", default=None, help=argparse.SUPPRESS)
    group.addoption("--autolab-evaluate-out", metavar="PATH", default=None, help=argparse.SUPPRESS)
    group.addoption("--autolab-run-id", metavar="ID", default=None, help=argparse.SUPPRESS)
    group.addoption("--autolab-evaluate-seed", metavar="N", type=int, default=None, help=argparse.SUPPRESS)
    _OPTION_DEFAULTS.update({option.dest: option.default for option in group.options})
    for dest, (kind, what) in INI_OPTIONS.items():
        parser.addini(dest, f"default of --{dest.replace('_', '-')}: {what}", type=kind, default=None)


#: The options a project may set in its ini file (pyproject.toml's [tool.pytest.ini_options],
#: pytest.ini, tox.ini, setup.cfg): ``autolab_sandbox = "docker"``. The command line wins.
INI_OPTIONS: dict[str, tuple[Any, str]] = {
    "autolab_agent": ("string", "the agent to benchmark"),
    "autolab_agent_option": ("linelist", "KEY=VALUE options of the agent, one a line"),
    "autolab_sandbox": ("string", "auto, docker or local"),
    "autolab_run_dir": ("string", "the run directory (relative to the ini file's folder)"),
    "autolab_results": ("string", "also write the summary JSON here (relative to the ini file's folder)"),
    "autolab_budget_scale": ("string", "multiply every task's budget"),
    "autolab_seed": ("string", "the seed of the hidden inputs"),
    "autolab_submit": ("string", "final or best"),
    "autolab_attempts": ("string", "independent runs of each task's loop"),
}


def option(config: pytest.Config, dest: str) -> Any:
    """An autolab option: the command line's value if given, else the ini file's, else the default."""
    value = config.getoption(dest)
    if dest not in INI_OPTIONS or value != _OPTION_DEFAULTS.get(dest, value):
        return value
    try:
        raw = config.getini(dest)
    except ValueError:  # not registered (a config made without this plugin's addoption)
        return value
    if raw is None or raw == "" or raw == []:
        return value
    flag = f"{dest} (ini)"
    if dest == "autolab_agent_option":
        return [str(line) for line in raw]
    text = str(raw).strip()
    if dest in ("autolab_run_dir", "autolab_results"):
        base = config.inipath.parent if config.inipath else config.rootpath
        return str(base / text)
    if dest == "autolab_budget_scale":
        try:
            return float(text)
        except ValueError:
            raise pytest.UsageError(f"{flag}: {text!r} is not a number") from None
    if dest in ("autolab_seed", "autolab_attempts"):
        try:
            return int(text)
        except ValueError:
            raise pytest.UsageError(f"{flag}: {text!r} is not an integer") from None
    choices = {"autolab_sandbox": ("auto", "docker", "local"), "autolab_submit": ("final", "best")}
    if dest in choices and text not in choices[dest]:
        raise pytest.UsageError(f"{flag}: {text!r}: expected one of {', '.join(choices[dest])}")
    return text


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a running Docker engine")
    state = AutolabPlugin(config)
    config.pluginmanager.register(state, PLUGIN_NAME)
    if state.active and config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlReportHooks(state), "autolab-html")
    if config.getoption("autolab_validate"):
        if config.getoption("autolab_validate_repeat") < 1:
            raise pytest.UsageError("--autolab-validate-repeat: expected an integer >= 1")
        config.pluginmanager.register(ValidationPlugin(config, state), ValidationPlugin.NAME)


def autolab_requested(config: pytest.Config) -> bool:
    """Whether this is an autolab run: an --autolab-* option is set, or a path given to
    pytest (or its testpaths) is, or holds, a task folder. Elsewhere the plugin leaves the
    session alone (issue 7: xdist's scheduling of an unrelated project is not ours)."""
    for dest, default in _OPTION_DEFAULTS.items():
        if config.getoption(dest, default) != default:
            return True
    base = config.invocation_params.dir
    for arg in config.args:
        path = base / arg.split("::", 1)[0]
        folder = path if path.is_dir() else path.parent
        if find_task_dir(folder) is not None:
            return True
        if path.is_dir() and (next(path.glob("*/task.toml"), None) or next(path.glob("*/*/task.toml"), None)):
            return True
    return False


def _state(config: pytest.Config) -> AutolabPlugin:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, AutolabPlugin)
    return plugin


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _preflight_agent(name: str, options: dict[str, str]) -> None:
    """Create the agent once and run its ``check()``, so that a setup error (a CLI that is
    not installed, no model named) fails the session in one line instead of every task."""
    try:
        agent = load_agent(name, options)
        check = getattr(agent, "check", None)
        if callable(check):
            check()
    except AgentError as exc:
        raise pytest.UsageError(f"--autolab-agent={name}: {exc}") from None


def _settings_from_options(config: pytest.Config, *, preflight: bool = False) -> RunSettings:
    """The controller's (or a single process's) view of the run."""

    def opt(dest: str) -> Any:
        return option(config, dest)

    options: dict[str, str] = {}
    for item in opt("autolab_agent_option"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise pytest.UsageError(f"--autolab-agent-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    agent = opt("autolab_agent") or "nop"
    try:
        resolve_agent(agent)  # a typo fails now, not once per task
    except AgentError as exc:
        raise pytest.UsageError(f"--autolab-agent: {exc}") from None
    if preflight:
        _preflight_agent(agent, options)
    scale = opt("autolab_budget_scale")
    if not (scale > 0 and math.isfinite(scale)):
        raise pytest.UsageError(f"--autolab-budget-scale {scale!r}: expected a positive number")

    resume = opt("autolab_resume")
    try:
        run_dir = run_folder(
            config.rootpath / ".autolab" / "runs", run_dir=opt("autolab_run_dir"), resume=resume
        )
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    run_id = opt("autolab_run_id") or run_dir.name
    seed = run_seed(opt("autolab_seed"), resume=resume, run_dir=run_dir)
    return RunSettings(
        run_id=run_id,
        run_dir=run_dir,
        agent=agent,
        agent_options=options,
        sandbox=opt("autolab_sandbox"),
        budget_scale=scale,
        seed=seed,
        resume=resume,
        submit=opt("autolab_submit"),
    )


# --- the plugin object ---------------------------------------------------------------------------


class AutolabPlugin:
    """Per-process state: the run's settings, the lab, verdicts and (controller) results.

    ::

        tasks     = {Path("/repo/tasks/x"): Task(...) | TaskFileError(...)}
        verdicts  = {"discover_sorting": Verdict(failures=[...], metric=60.0, result=...)}
        results   = {"discover_sorting": TaskResult(...)}      # controller: from reports
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.evaluate_dir: Path | None = None
        if config.getoption("autolab_evaluate"):
            self.evaluate_dir = Path(config.getoption("autolab_evaluate"))
        if _is_worker(config):
            workerinput = config.workerinput  # type: ignore[attr-defined]
            self.active = bool(workerinput.get("autolab_active", True))
            self.settings = RunSettings.from_json(json.loads(workerinput["autolab_settings"]))
        else:
            self.active = autolab_requested(config)
            if self.active and config.getoption("dist", "no") == "each" and not self.evaluate_dir:
                raise pytest.UsageError(
                    "--dist each runs every test on every worker, so each worker would run every "
                    "task's agent loop: use -n N alone (autolab keeps each task on one worker)"
                )
            self.settings = _settings_from_options(config, preflight=self.active and not self.evaluate_dir)
        self._lab: Lab | None = None
        self.tasks: dict[Path, Task | TaskFileError] = {}
        self.results: dict[str, TaskResult] = {}
        self.task_names_seen: set[str] = set()
        #: Tasks with a test in the session's final selection (the ones expected to finish).
        self.tasks_selected: set[str] = set()
        self._task_of_file: dict[str, str | None] = {}
        #: Every verifier test of each task, as collected before any selection (node ids).
        self.verifier_tests: dict[str, set[str]] = {}
        #: Collectors inside a task (a test class) whose tests were never collected.
        self.unexpanded: dict[str, set[str]] = {}
        #: Verifier tests whose setup started in this process.
        self.tests_started: set[str] = set()
        self.progress: ProgressWatcher | None = None

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = Lab(self.settings)
        return self._lab

    def task_at(self, task_dir: Path) -> Task | TaskFileError:
        task_dir = task_dir.resolve()
        if task_dir not in self.tasks:
            try:
                self.tasks[task_dir] = load_task(task_dir)
            except TaskFileError as exc:
                self.tasks[task_dir] = exc
        return self.tasks[task_dir]

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return self._lab.verdicts if self._lab is not None else {}

    def verification(self, task: Task) -> contextlib.AbstractContextManager[Submission]:
        """The lab's verification of ``task``: of the agent's files, or of the snapshot that
        evaluate() (or validation) hands this inner session."""
        missing = functools.partial(self.missing_tests, task.name, task.attempt)
        if self.evaluate_dir is None:
            return self.lab.verification(task, missing=missing)
        root = self.evaluate_dir
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        seed = self.config.getoption("autolab_evaluate_seed")
        return self.lab.verification(task, missing=missing, snapshot=files, seed=seed)

    @property
    def attempts(self) -> int:
        k = int(option(self.config, "autolab_attempts"))
        if k < 1:
            raise pytest.UsageError(f"--autolab-attempts {k}: expected an integer >= 1")
        return k

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # K attempts: the module-scoped task fixture (and so the loop, the submission and every
        # verifier test) once per attempt, grouped by attempt.
        if not self.active or self.evaluate_dir or "autolab_task" not in metafunc.fixturenames:
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

    # -- xdist ------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["autolab_settings"] = json.dumps(self.settings.to_json())
        node.workerinput["autolab_active"] = self.active

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # Keep each task's tests on one worker so that its agent loop runs once. Only in an
        # autolab run, and only for the modes that hand out single tests (load is what -n
        # implies): loadfile, loadscope and loadgroup are the user's choice and stay theirs
        # (a task that they split is reported as not scored).
        if not self.active or config.getoption("dist") not in ("load", "worksteal"):
            return None
        from .scheduling import TaskScheduling

        return TaskScheduling(config, log)

    # -- header and collection --------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        for nodeid in ids:
            name = self._task_of_nodeid(nodeid)
            if name is not None and nodeid.split("::", 1)[0].endswith(".py"):  # a verifier test
                self.tasks_selected.add(name)

    def _task_of_nodeid(self, nodeid: str) -> str | None:
        file_part = nodeid.split("::", 1)[0]
        if file_part not in self._task_of_file:
            task_dir = find_task_dir((self.config.rootpath / file_part).parent)
            self._task_of_file[file_part] = task_dir.name if task_dir else None
        return self._task_of_file[file_part]

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        s = self.settings
        if config.getoption("autolab_validate"):
            return [f"autolab: validating tasks (sandbox={s.sandbox} seed={s.seed}); run dir {s.run_dir}"]
        if self.evaluate_dir or not option(config, "autolab_agent"):
            return None
        return [
            f"autolab: agent={s.agent} sandbox={s.sandbox} budget-scale={s.budget_scale:g} "
            f"seed={s.seed} submit={s.submit}",
            f"autolab: run dir {s.run_dir}",
        ]

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

    def missing_tests(self, task_name: str, attempt: int = 0) -> list[str]:
        """Verifier tests of the task (of one attempt) that did not run (yet) in this process."""
        tests = self.verifier_tests.get(task_name, set())
        if attempt:
            tests = {t for t in tests if f"attempt-{attempt}" in t.rpartition("[")[2]}
        missing = tests - self.tests_started
        return sorted(missing | self.unexpanded.get(task_name, set()))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.tests_started.add(nodeid)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            name = item.stash.get(TASK_KEY, None)
            if name is not None and item.nodeid in self.verifier_tests.get(name, ()):
                self.tasks_selected.add(name)

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.name == "task.toml":
            return TaskFile.from_parent(parent, path=file_path)
        return None

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
                    + TIMEOUT_SLACK_S
                )
                item.add_marker(pytest.mark.timeout(backstop, method="signal"))

    # -- reports ------------------------------------------------------------------------------

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
                _attach(item, report, result)
            return report
        verdict = self.verdicts.get(attempt_name(name, _attempt_of(item)))
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
        if verdict.result is not None and not verdict.reported and not self.evaluate_dir:
            _attach(item, report, verdict.result)
            verdict.reported = True
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The controller of an xdist run collects nothing: learn the tasks from their reports.
        if (name := self._task_of_nodeid(report.nodeid)) is not None:
            self.task_names_seen.add(name)
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if isinstance(data, dict):
            result = TaskResult.from_json(data)
            self.results[result.run_name] = result

    # -- end of session ---------------------------------------------------------------------

    def _collect_missing_results(self) -> None:
        # A task whose result did not travel on a report (a crashed worker): read it from disk.
        k = self.attempts
        names = [
            attempt_name(t, i) for t in self.task_names_seen for i in ([0] if k == 1 else range(1, k + 1))
        ]
        for name in sorted(set(names) - set(self.results)):
            path = self.settings.run_dir / name / "result.json"
            if path.exists():
                result = load_result(path)
                if result is not None:
                    self.results[name] = result

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = self.config
        if (
            not self.active
            or self.evaluate_dir
            or _is_worker(config)
            or config.getoption("autolab_validate")
            or config.getoption("autolab_progress") == "off"
            or config.getoption("collectonly")
        ):
            return
        self.progress = ProgressWatcher(self.settings.run_dir, open_terminal_writer(config))
        self.progress.start()

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            stream = getattr(self.progress.write, "stream", None)
            if stream is not None:
                stream.close()
            self.progress = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop_progress()
        if self._lab is not None:
            self._lab.close()  # the engine client's connections, not the results

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.evaluate_dir:
            self._finish_evaluation()
            return
        self._stop_progress()
        # Results a worker could not attach to a report (a module's last test errored after
        # scoring): make sure they are on disk at least.
        if self._lab is not None:
            self._lab.record_unscored(lambda task: self.missing_tests(task.name, task.attempt))
        if _is_worker(self.config):
            return
        self._collect_missing_results()
        if not self.results:
            return
        summary = summarize(self.results.values())
        summary["not_run"] = self.tasks_not_run()
        self._junit_properties(summary)
        run_dir = self.settings.run_dir
        write_run_json(self.settings, finished=True)
        atomic_write_json(run_dir / "summary.json", {"run_id": self.settings.run_id, **summary})
        extra = option(self.config, "autolab_results")
        if extra:
            atomic_write_json(Path(extra), {"run_id": self.settings.run_id, **summary})
        sweep_run(self.settings.run_id)

    def _junit_properties(self, summary: dict[str, Any]) -> None:
        """The results as properties of the JUnit XML's test suite (when --junitxml is given)."""
        from _pytest.junitxml import xml_key

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        xml.add_global_property("autolab.run_id", self.settings.run_id)
        xml.add_global_property("autolab.agent", self.settings.agent)
        xml.add_global_property("autolab.mean_reward", f"{summary['mean_reward']:.6g}")
        for result in sorted(self.results.values(), key=lambda r: r.task):
            for key, value in junit_properties(result):  # autolab.<task>[@k].<what>
                xml.add_global_property(key, value)
        if summary["not_run"]:
            xml.add_global_property("autolab.not_run", " ".join(summary["not_run"]))

    def _finish_evaluation(self) -> None:
        out = self.config.getoption("autolab_evaluate_out")
        if not out:
            return
        verdict = next(iter(self.verdicts.values()), None)
        if verdict is None:
            result = {"task": "?", "axis": "-", "status": "error", "agent": "evaluate",
                      "reason": "the verifier module ran no test that uses the submission fixture"}  # fmt: skip
        else:
            final = verdict.result or self.lab.score(verdict.task, verdict, None)
            result = final.to_json()
        atomic_write_json(Path(out), result)

    def tasks_not_run(self) -> list[str]:
        """Selected tasks that ended without a result (the session stopped before them)."""
        return sorted(self.tasks_selected - {r.task for r in self.results.values()})

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.evaluate_dir or self.config.option.collectonly or not (self.results or self.tasks_selected):
            return
        tr = terminalreporter
        tr.write_sep("=", "autolab results")
        if self.results:
            for line in format_table(list(self.results.values())):
                tr.write_line(line)
        not_run = self.tasks_not_run()
        if not_run:
            tr.write_line(
                f"not run: {', '.join(not_run)} (the session stopped before their verifiers: "
                "-x, --maxfail, an interruption or a crash); they have no result",
                red=True,
                bold=True,
            )
        not_scored = sorted(r.task for r in self.results.values() if r.status == "incomplete")
        if not_scored:
            tr.write_line(
                f"not scored: {', '.join(not_scored)}: only part of the verifier ran "
                "(-k, node ids, --lf, --deselect, -x or a --dist mode that split the task); "
                "run the whole task folder to score it",
                red=True,
                bold=True,
            )
        notes = [note for r in self.results.values() for note in r.notes]
        if self._lab is not None:
            notes.extend(self._lab.notes)
        for note in dict.fromkeys(notes):
            tr.write_line(f"note: {note}")
        backends = sorted({r.sandbox for r in self.results.values() if r.sandbox})
        if backends:
            tr.write_line(f"sandbox: {', '.join(backends)}; agent: {self.settings.agent}")
        tr.write_line(f"results: {self.settings.run_dir}")


#: The attribute of a test report that carries a task's result (result.json's dict).
REPORT_ATTRIBUTE = "autolab_result"


def _attach(item: pytest.Item, report: pytest.TestReport, result: TaskResult) -> None:
    # Plain builtins only: xdist's execnet serialiser refuses anything else.
    setattr(report, REPORT_ATTRIBUTE, result.to_json())


def junit_properties(result: TaskResult) -> list[tuple[str, str]]:
    """``autolab.<task>.status|n|metric|reward|...`` for one task; a value never measured is left out."""
    values: dict[str, object] = {
        "status": result.status,
        "axis": result.axis,
        "metric_name": result.metric_name,
        "metric": result.metric,
        "n": result.n,
        "reward": result.reward,
        "evaluations": result.evaluations,
    }
    return [(f"autolab.{result.run_name}.{key}", f"{v:.10g}" if isinstance(v, float) else str(v))
            for key, v in values.items() if v is not None and v != ""]  # fmt: skip


def result_of_report(report: pytest.TestReport) -> TaskResult | None:
    """The task result a test report carries (one report per task), or None."""
    data = getattr(report, REPORT_ATTRIBUTE, None)
    return TaskResult.from_json(data) if isinstance(data, dict) else None


class HtmlReportHooks:
    """pytest-html's hook (registered only when it is installed): the autolab table above its
    results. (Not a column: pytest-html renders a row from the call report, and a task's result
    is known only at the teardown of its last test.)"""

    def __init__(self, state: AutolabPlugin) -> None:
        self.state = state

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        results = list(self.state.results.values())
        if not results:
            return
        head = ["task", "axis", "status", "metric", "n", "reward"]
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in
                             (r.task, r.axis, r.status, f"{_fmt(r.metric)} {r.metric_name}", _fmt(r.n), f"{r.reward:.3f}"))
            + "</tr>"
            for r in sorted(results, key=lambda r: r.task)
        )  # fmt: skip
        mean = summarize(results)["mean_reward"]
        prefix.append(
            f'<div class="autolab"><h2>autolab: agent {html.escape(self.state.settings.agent)}, mean reward '
            f"{mean:.3f}</h2><table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table></div>"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


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
            task = _state(self.config).task_at(self.path.parent)
            if not isinstance(task, TaskFileError):
                yield from collect_items(self, task)


class TaskSchemaItem(pytest.Item):
    """Passes when the task folder and its task.toml are valid."""

    def runtest(self) -> None:
        task = _state(self.config).task_at(self.path.parent)
        if isinstance(task, TaskFileError):
            raise task

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TaskFileError):
            return f"invalid task: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.parent.name}/task.toml"


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def autolab_lab(request: pytest.FixtureRequest) -> Lab:
    """The session's lab: runs each task's agent loop once."""
    return _state(request.config).lab


@pytest.fixture(scope="module")
def autolab_task(request: pytest.FixtureRequest) -> Task:
    """The task whose verifier module is running."""
    task_dir = find_task_dir(Path(request.path).parent)
    if task_dir is None:
        raise pytest.UsageError(
            f"{request.path}: autolab fixtures work only in a task's verifier module "
            "(a folder with a task.toml)"
        )
    task = _state(request.config).task_at(task_dir)
    if isinstance(task, TaskFileError):
        raise task
    attempt = getattr(request, "param", None)
    if isinstance(attempt, int):  # --autolab-attempts: one independent run of the loop
        task = dataclasses.replace(task, attempt=attempt)
    return task


@pytest.fixture(scope="module")
def autolab_verdict(request: pytest.FixtureRequest, autolab_task: Task) -> Verdict:
    """What this task's verifier tests have found so far."""
    return _state(request.config).lab.verdict(autolab_task)


@pytest.fixture(scope="module")
def submission(request: pytest.FixtureRequest, autolab_task: Task) -> Iterator[Submission]:
    """The agent's files in a FRESH sandbox, with the seed of the inputs to use.

    In a benchmark run this runs the agent loop first (once per task) and uses a
    hidden seed; under evaluate() it uses the snapshot and the public seed.
    """
    try:
        with _state(request.config).verification(autolab_task) as sub:
            yield sub
    except NotVerified as exc:
        if exc.error:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def record_metric(autolab_verdict: Verdict) -> Callable[..., None]:
    """Record the task's metric (once), and optionally how it was measured: a JSON-able
    ``details`` dict kept in result.json (a count's tool and cache model, a timed speedup's
    times and interval). Skips the test when the submission already failed."""
    verdict = autolab_verdict
    if verdict.failures:
        pytest.skip("not measured: the submission already failed a correctness test")

    def record(value: float, details: Mapping[str, Any] | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"record_metric: expected a finite number, got {value!r}")
        plain: dict[str, Any] | None = None
        if details is not None:
            if not isinstance(details, Mapping):
                raise TypeError(f"record_metric: details must be a dict, got {type(details).__name__}")
            plain = json.loads(json.dumps(dict(details)))  # plain JSON now, not a surprise at write time
        if verdict.metric is not None:
            raise RuntimeError(f"record_metric called twice ({verdict.metric!r}, then {value!r})")
        verdict.metric = float(value)
        verdict.details = plain

    return record
