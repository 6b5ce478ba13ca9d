"""The pytest plugin: options, collection of task folders, fixtures and the summary.

It wires pytest's hooks to the parts (tasks, lab, scoring, results, report)
without doing their work. State lives in one ``AutolabPlugin`` object per
pytest process, registered in ``pytest_configure``.

Data flow under xdist: the controller decides the run (id, folder, seed) and
sends it to the workers; each worker runs the agent loop of the tasks it is
given (a task's tests stay on one worker: see scheduling.py), scores them and
puts the result on a test report (``user_properties``); the controller
collects those reports, prints the table and writes summary.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import secrets
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .agents import AgentError, resolve_agent
from .lab import Lab, RunSettings, Submission, Verdict, run_metadata
from .report import format_table, summarize
from .results import TaskResult, atomic_write_json, load_result
from .sandboxes import SandboxError, sweep_run
from .tasks import Task, TaskFileError, find_task_dir, load_task
from .validation import ValidationPlugin, collect_items

__all__ = ["AutolabPlugin"]

TASK_KEY = pytest.StashKey[str]()
PLUGIN_NAME = "autolab-state"
#: Seconds added to the per-test timeout backstop for image builds and start-up.
TIMEOUT_SLACK_S = 960.0


# --- options -----------------------------------------------------------------------------------


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a running Docker engine")
    state = AutolabPlugin(config)
    config.pluginmanager.register(state, PLUGIN_NAME)
    if config.getoption("autolab_validate"):
        if config.getoption("autolab_validate_repeat") < 1:
            raise pytest.UsageError("--autolab-validate-repeat: expected an integer >= 1")
        config.pluginmanager.register(ValidationPlugin(config, state), ValidationPlugin.NAME)


def _state(config: pytest.Config) -> AutolabPlugin:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, AutolabPlugin)
    return plugin


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _new_run_id() -> str:
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _settings_from_options(config: pytest.Config) -> RunSettings:
    """The controller's (or a single process's) view of the run."""
    opt = config.getoption
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
    scale = opt("autolab_budget_scale")
    if not (scale > 0 and math.isfinite(scale)):
        raise pytest.UsageError(f"--autolab-budget-scale {scale!r}: expected a positive number")

    runs = config.rootpath / ".autolab" / "runs"
    run_dir_opt = opt("autolab_run_dir")
    resume = opt("autolab_resume")
    if run_dir_opt:
        run_dir = Path(run_dir_opt).resolve()
    elif resume:
        earlier = sorted(p for p in runs.glob("*") if (p / "run.json").exists()) if runs.exists() else []
        if not earlier:
            raise pytest.UsageError(
                f"--autolab-resume: no earlier run under {runs}; name one with --autolab-run-dir"
            )
        run_dir = earlier[-1]
    else:
        run_dir = runs / _new_run_id()
    run_id = opt("autolab_run_id") or run_dir.name

    seed = opt("autolab_seed")
    if seed is None and resume:
        try:
            seed = json.loads((run_dir / "run.json").read_text())["settings"]["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            seed = None
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
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
            self.settings = RunSettings.from_json(json.loads(config.workerinput["autolab_settings"]))  # type: ignore[attr-defined]
        else:
            self.settings = _settings_from_options(config)
        self._lab: Lab | None = None
        self.tasks: dict[Path, Task | TaskFileError] = {}
        self.verdicts: dict[str, Verdict] = {}
        self.results: dict[str, TaskResult] = {}
        self.task_names_seen: set[str] = set()
        self._task_of_file: dict[str, str | None] = {}

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

    def verdict_for(self, task: Task) -> Verdict:
        if task.name not in self.verdicts:
            self.verdicts[task.name] = Verdict(task)
        return self.verdicts[task.name]

    # -- xdist ------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["autolab_settings"] = json.dumps(self.settings.to_json())

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # Keep each task's tests on one worker so that its agent loop runs once.
        if config.getoption("dist") not in ("load", "loadfile", "loadscope", "worksteal"):
            return None
        from .scheduling import TaskScheduling

        return TaskScheduling(config, log)

    # -- header and collection --------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        s = self.settings
        if config.getoption("autolab_validate"):
            return [f"autolab: validating tasks (sandbox={s.sandbox} seed={s.seed}); run dir {s.run_dir}"]
        if self.evaluate_dir or not config.getoption("autolab_agent"):
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

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.name == "task.toml":
            return TaskFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        timeout_plugin = config.pluginmanager.hasplugin("timeout")
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
        verdict = self.verdicts.get(name)
        if verdict is None:
            return report
        if report.failed and (verdict.result is None or report.when == "call"):
            verdict.failures.append(f"{item.name} ({report.when}): {_failure_text(report)}")
        if verdict.result is not None and not verdict.reported and not self.evaluate_dir:
            _attach(item, report, verdict.result)
            verdict.reported = True
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The controller of an xdist run collects nothing: learn the tasks from their reports.
        file_part = report.nodeid.split("::", 1)[0]
        if file_part not in self._task_of_file:
            task_dir = find_task_dir((self.config.rootpath / file_part).parent)
            self._task_of_file[file_part] = task_dir.name if task_dir else None
        if (name := self._task_of_file[file_part]) is not None:
            self.task_names_seen.add(name)
        for key, value in report.user_properties:
            if key == "autolab.result" and isinstance(value, str):
                result = TaskResult.from_json(json.loads(value))
                self.results[result.task] = result

    # -- end of session ---------------------------------------------------------------------

    def _collect_missing_results(self) -> None:
        # A task whose result did not travel on a report (a crashed worker): read it from disk.
        for name in sorted(self.task_names_seen - set(self.results)):
            path = self.settings.run_dir / name / "result.json"
            if path.exists():
                result = load_result(path)
                if result is not None:
                    self.results[name] = result

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._lab is not None:
            self._lab.close()  # the engine client's connections, not the results

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.evaluate_dir:
            self._finish_evaluation()
            return
        # Results a worker could not attach to a report (a module's last test errored after
        # scoring): make sure they are on disk at least.
        for verdict in self.verdicts.values():
            if verdict.result is None and verdict.failures and self._lab is not None:
                verdict.result = self.lab.score(verdict.task, verdict, None)
                self.lab.record(verdict.result)
        if _is_worker(self.config):
            return
        self._collect_missing_results()
        if not self.results:
            return
        summary = summarize(self.results.values())
        run_dir = self.settings.run_dir
        metadata = run_metadata(self.settings)
        metadata["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        atomic_write_json(run_dir / "run.json", metadata)
        atomic_write_json(run_dir / "summary.json", {"run_id": self.settings.run_id, **summary})
        extra = self.config.getoption("autolab_results")
        if extra:
            atomic_write_json(Path(extra), {"run_id": self.settings.run_id, **summary})
        sweep_run(self.settings.run_id)

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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or self.evaluate_dir:
            return
        tr = terminalreporter
        tr.write_sep("=", "autolab results")
        for line in format_table(list(self.results.values())):
            tr.write_line(line)
        notes = []
        if any(r.sandbox == "local" for r in self.results.values()):
            notes.append(
                "the local sandbox does not isolate a hostile agent: the program ran as your "
                "user with resource limits only (use --autolab-sandbox=docker for isolation)"
            )
        if self._lab is not None:
            notes.extend(self._lab.notes)
        for note in dict.fromkeys(notes):
            tr.write_line(f"note: {note}")
        backends = sorted({r.sandbox for r in self.results.values() if r.sandbox})
        if backends:
            tr.write_line(f"sandbox: {', '.join(backends)}; agent: {self.settings.agent}")
        tr.write_line(f"results: {self.settings.run_dir}")


def _attach(item: pytest.Item, report: pytest.TestReport, result: TaskResult) -> None:
    # Plain builtins only: xdist's execnet serialiser refuses anything else.
    props = [
        ("autolab.reward", float(result.reward)),
        ("autolab.status", result.status),
        ("autolab.result", json.dumps(result.to_json())),
    ]
    report.user_properties.extend(props)
    item.user_properties.extend(props)


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
    return task


@pytest.fixture(scope="module")
def autolab_verdict(request: pytest.FixtureRequest, autolab_task: Task) -> Verdict:
    """What this task's verifier tests have found so far."""
    return _state(request.config).verdict_for(autolab_task)


@pytest.fixture(scope="module")
def submission(
    request: pytest.FixtureRequest, autolab_task: Task, autolab_verdict: Verdict
) -> Iterator[Submission]:
    """The agent's files in a FRESH sandbox, with the seed of the inputs to use.

    In a benchmark run this runs the agent loop first (once per task) and uses a
    hidden seed; under evaluate() it uses the snapshot and the public seed.
    """
    state = _state(request.config)
    lab = state.lab
    task, verdict = autolab_task, autolab_verdict
    run = None
    seed = None
    if state.evaluate_dir is not None:
        root = state.evaluate_dir
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        # Validation verifies a variant here with the hidden seed it passes down.
        seed = request.config.getoption("autolab_evaluate_seed")
        hidden = seed is not None
    else:
        prior = lab.finished_result(task)
        if prior is not None:
            verdict.result = prior
            pytest.skip(
                f"finished in an earlier run ({prior.status}, reward {prior.reward:.3f}): kept by --autolab-resume"
            )
        run = lab.agent_run(task)
        if run.status != "ok":
            verdict.result = lab.failed_run_result(task, run)
            lab.record(verdict.result)
            pytest.skip(f"not verified: {run.status}: {run.reason}")
        files = run.files
        hidden = True
    started = time.monotonic()
    try:
        sub = lab.open_submission(task, files, hidden=hidden, seed=seed)
    except SandboxError as exc:
        result = lab.base_result(task, run)
        result.reason = f"could not start the verification sandbox: {exc}"
        verdict.result = result
        if state.evaluate_dir is None:
            lab.record(result)
        pytest.fail(result.reason, pytrace=False)
    try:
        yield sub
    finally:
        sub.close()
        verdict.result = lab.score(task, verdict, run, verify_time_s=time.monotonic() - started)
        if state.evaluate_dir is None:
            lab.record(verdict.result)


@pytest.fixture
def record_metric(autolab_verdict: Verdict) -> Callable[..., None]:
    """Record the task's metric (once), and optionally how it was measured (``details``, a JSON
    object kept in result.json as ``measurement``). Skips the test when the submission already
    failed."""
    verdict = autolab_verdict
    if verdict.failures:
        pytest.skip("not measured: the submission already failed a correctness test")

    def record(value: float, *, details: Mapping[str, Any] | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"record_metric: expected a finite number, got {value!r}")
        if verdict.metric is not None:
            raise RuntimeError(f"record_metric called twice ({verdict.metric!r}, then {value!r})")
        verdict.metric = float(value)
        verdict.metric_details = dict(details or {})

    return record
