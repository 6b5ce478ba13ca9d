"""The result-collecting side of a session: results from reports, the summary, the reports.

One ``RunSummary`` lives in the process that reports the session (a single
process, or the xdist controller; never a worker). Under xdist it hands the
run's settings to the workers and installs the task scheduling; in every case it
collects each task's result from the report that carries it (runner.py puts it
there), prints the table, writes summary.json and run.json's end, and puts each
task's n, metric, reward and status in the JUnit XML as suite properties (xunit2
allows no properties on test cases)::

    results        = {"discover_sorting": TaskResult(...), "toy@2": TaskResult(...)}
    tasks_selected = {"discover_sorting", "toy"}      # expected to finish (xdist: from the nodes)
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from .progress import ProgressWatcher, open_terminal_writer
from .report import format_table, summarize
from .results import TaskResult, atomic_write_json, load_result, result_of_report
from .runner import TaskRunner
from .sandboxes import sweep_run
from .settings import write_run_json
from .tasks import NodeTasks, attempt_name

__all__ = ["HtmlReportHooks", "RunSummary", "junit_properties"]


class RunSummary:
    """Collects the tasks' results and reports them at the end of the session."""

    NAME = "autolab-summary"

    def __init__(
        self, config: pytest.Config, runner: TaskRunner, *, results_path: str | None, agent_named: bool
    ) -> None:
        self.config = config
        #: This process's task runner: the settings, and (in a single process) what it collected.
        self.runner = runner
        self.settings = runner.settings
        #: --autolab-results: a second copy of summary.json.
        self.results_path = results_path
        #: An agent was named (--autolab-agent or the ini file): the header shows the run.
        self.agent_named = agent_named
        self.results: dict[str, TaskResult] = {}
        self.task_names_seen: set[str] = set()
        #: Tasks with a test in an xdist node's final selection.
        self.tasks_selected: set[str] = set()
        self._tasks = NodeTasks(config.rootpath)
        self.progress: ProgressWatcher | None = None

    # -- xdist ------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["autolab_settings"] = json.dumps(self.settings.to_json())
        node.workerinput["autolab_active"] = self.runner.active

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # Keep each task's tests on one worker so that its agent loop runs once. Only in an
        # autolab run, and only for the modes that hand out single tests (load is what -n
        # implies): loadfile, loadscope and loadgroup are the user's choice and stay theirs
        # (a task that they split is reported as not scored).
        if not self.runner.active or config.getoption("dist") not in ("load", "worksteal"):
            return None
        from .scheduling import TaskScheduling

        return TaskScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        for nodeid in ids:
            name = self._tasks.name(nodeid)
            if name is not None and nodeid.split("::", 1)[0].endswith(".py"):  # a verifier test
                self.tasks_selected.add(name)

    # -- the session ------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        s = self.settings
        if config.getoption("autolab_validate"):
            return [f"autolab: validating tasks (sandbox={s.sandbox} seed={s.seed}); run dir {s.run_dir}"]
        if not self.agent_named:
            return None
        return [
            f"autolab: agent={s.agent} sandbox={s.sandbox} budget-scale={s.budget_scale:g} "
            f"seed={s.seed} submit={s.submit}",
            f"autolab: run dir {s.run_dir}",
        ]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = self.config
        if (
            not self.runner.active
            or config.getoption("autolab_validate")
            or config.getoption("autolab_progress") == "off"
            or config.getoption("collectonly")
        ):
            return
        self.progress = ProgressWatcher(self.settings.run_dir, open_terminal_writer(config))
        self.progress.start()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The controller of an xdist run collects nothing: learn the tasks from their reports.
        if (name := self._tasks.name(report.nodeid)) is not None:
            self.task_names_seen.add(name)
        result = result_of_report(report)
        if result is not None:
            self.results[result.run_name] = result

    def tasks_not_run(self) -> list[str]:
        """Selected tasks that ended without a result (the session stopped before them)."""
        selected = self.tasks_selected | self.runner.tasks_selected
        return sorted(selected - {r.task for r in self.results.values()})

    def _collect_missing_results(self) -> None:
        # A task whose result did not travel on a report (a crashed worker): read it from disk.
        k = self.runner.attempts
        seen = self.task_names_seen | self.runner.task_names_seen
        names = [attempt_name(t, i) for t in seen for i in ([0] if k == 1 else range(1, k + 1))]
        for name in sorted(set(names) - set(self.results)):
            path = self.settings.run_dir / name / "result.json"
            if path.exists():
                result = load_result(path)
                if result is not None:
                    self.results[name] = result

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            stream = getattr(self.progress.write, "stream", None)
            if stream is not None:
                stream.close()
            self.progress = None

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._stop_progress()
        self._collect_missing_results()
        if not self.results:
            return
        summary = summarize(self.results.values())
        summary["not_run"] = self.tasks_not_run()
        self._junit_properties(summary)
        write_run_json(self.settings, finished=True)
        atomic_write_json(self.settings.run_dir / "summary.json", {"run_id": self.settings.run_id, **summary})
        if self.results_path:
            atomic_write_json(Path(self.results_path), {"run_id": self.settings.run_id, **summary})
        sweep_run(self.settings.run_id, self.settings.session)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop_progress()

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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.config.option.collectonly or not (
            self.results or self.tasks_selected or self.runner.tasks_selected
        ):
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
        notes.extend(self.runner.notes)
        for note in dict.fromkeys(notes):
            tr.write_line(f"note: {note}")
        backends = sorted({r.sandbox for r in self.results.values() if r.sandbox})
        if backends:
            tr.write_line(f"sandbox: {', '.join(backends)}; agent: {self.settings.agent}")
        tr.write_line(f"results: {self.settings.run_dir}")


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


class HtmlReportHooks:
    """pytest-html's hook (registered only when it is installed): the autolab table above its
    results. (Not a column: pytest-html renders a row from the call report, and a task's result
    is known only at the teardown of its last test.)"""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        results = list(self.summary.results.values())
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
            f'<div class="autolab"><h2>autolab: agent {html.escape(self.summary.settings.agent)}, mean reward '
            f"{mean:.3f}</h2><table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table></div>"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
