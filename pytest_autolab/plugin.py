"""The pytest plugin: options, hooks that pick the session's roles, and the fixtures.

It wires pytest to the parts without doing their work, in pytest-xdist's shape:
one object per role, registered in ``pytest_configure``::

    single process        TaskRunner (runner.py) + RunSummary (summary.py)
    xdist controller      RunSummary (its TaskRunner collects and runs nothing)
    xdist worker          TaskRunner, with the controller's RunSettings
    evaluate()'s child    EvaluateRunner: verifies one snapshot, writes one result
    --autolab-validate    + ValidationPlugin (validation.py)

The controller decides the run (id, folder, seed: settings.py) and sends it to
the workers; each worker's runner verifies the tasks it is given (a task's
tests stay on one worker: scheduling.py) through the lab (lab.py) and puts each
result on a test report; the summary collects those reports and reports the run.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .agents import AgentError, Described, preflight_agent, resolve_agent
from .lab import RecordMetric, Submission, Verdict
from .runner import EvaluateRunner, TaskRunner, runner_of, task_of_request, verify
from .settings import RunSettings, SettingsError, run_folder, run_seed
from .summary import HtmlReportHooks, RunSummary
from .tasks import Task, find_task_dir
from .validation import ValidationPlugin

__all__ = ["autolab_requested", "option"]


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
    group.addoption("--autolab-session", metavar="ID", default=None, help=argparse.SUPPRESS)
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
    runner: TaskRunner
    if hasattr(config, "workerinput"):  # an xdist worker: the controller decided the run
        workerinput = config.workerinput
        settings = RunSettings.from_json(json.loads(workerinput["autolab_settings"]))
        runner = TaskRunner(
            config, settings, active=bool(workerinput.get("autolab_active", True)), attempts=_attempts(config)
        )
        config.pluginmanager.register(runner, TaskRunner.NAME)
    elif config.getoption("autolab_evaluate"):
        runner = EvaluateRunner(
            config, _settings_from_options(config), snapshot_dir=Path(config.getoption("autolab_evaluate"))
        )
        config.pluginmanager.register(runner, TaskRunner.NAME)
    else:
        active = autolab_requested(config)
        if active and config.getoption("dist", "no") == "each":
            raise pytest.UsageError(
                "--dist each runs every test on every worker, so each worker would run every "
                "task's agent loop: use -n N alone (autolab keeps each task on one worker)"
            )
        settings = _settings_from_options(config, preflight=active)
        runner = TaskRunner(config, settings, active=active, attempts=_attempts(config))
        config.pluginmanager.register(runner, TaskRunner.NAME)
        summary = RunSummary(
            config,
            runner,
            results_path=option(config, "autolab_results"),
            agent_named=bool(option(config, "autolab_agent")),
        )
        config.pluginmanager.register(summary, RunSummary.NAME)
        if active and config.pluginmanager.hasplugin("html"):
            config.pluginmanager.register(HtmlReportHooks(summary), "autolab-html")
    if config.getoption("autolab_validate"):
        if config.getoption("autolab_validate_repeat") < 1:
            raise pytest.UsageError("--autolab-validate-repeat: expected an integer >= 1")
        config.pluginmanager.register(ValidationPlugin(config, runner), ValidationPlugin.NAME)


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


def _attempts(config: pytest.Config) -> int:
    k = int(option(config, "autolab_attempts"))
    if k < 1:
        raise pytest.UsageError(f"--autolab-attempts {k}: expected an integer >= 1")
    return k


def _preflight_agent(name: str, options: dict[str, str]) -> dict[str, Any]:
    """The agent checked once (a missing CLI fails the session in one line), and what it says
    of itself for run.json."""
    try:
        agent = preflight_agent(name, options)
        details = agent.describe() if isinstance(agent, Described) else {}
    except AgentError as exc:
        raise pytest.UsageError(f"--autolab-agent={name}: {exc}") from None
    return details if isinstance(details, dict) else {}


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
    agent_details = _preflight_agent(agent, options) if preflight else {}
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
        session=opt("autolab_session") or secrets.token_hex(4),
        agent_details=agent_details,
    )


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autolab_task(request: pytest.FixtureRequest) -> Task:
    """The task whose verifier module is running."""
    return task_of_request(request)


@pytest.fixture(scope="module")
def autolab_verdict(request: pytest.FixtureRequest, autolab_task: Task) -> Verdict:
    """What this task's verifier tests have found so far."""
    return runner_of(request.config).lab.verdict(autolab_task)


@pytest.fixture(scope="module")
def submission(request: pytest.FixtureRequest, autolab_task: Task) -> Iterator[Submission]:
    """The agent's files in a FRESH sandbox, with the seed of the inputs to use.

    In a benchmark run this runs the agent loop first (once per task) and uses a
    hidden seed; under evaluate() it uses the snapshot and the public seed.
    """
    yield from verify(request.config, autolab_task)


@pytest.fixture
def record_metric(autolab_verdict: Verdict) -> RecordMetric:
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
