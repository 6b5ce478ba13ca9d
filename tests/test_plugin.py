"""Acceptance tests: real inner pytest sessions over small task folders (pytester)."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from .conftest import TOY_VERIFIER, MakeTask, read_summary, results_by_task

#: Agents for the inner sessions, written next to the tasks (the inner session imports them).
AGENTS = '''
import os, time
from pathlib import Path
from pytest_autolab import AgentOutcome
from pytest_autolab.agents.builtin import OracleAgent


def _count(ctx):
    with open(Path(os.environ.get("AUTOLAB_TEST_COUNTER", "loops.txt")), "a") as f:
        f.write(ctx.task.name + "\\n")


class Counting(OracleAgent):
    """The oracle, counting its loops in loops.txt."""
    name = "counting"
    def run(self, ctx):
        _count(ctx)
        return super().run(ctx)


class CrashOnA(OracleAgent):
    name = "crash-on-a"
    def run(self, ctx):
        if ctx.task.name == "a":
            raise RuntimeError("boom in the agent")
        return super().run(ctx)


class HangOnA(OracleAgent):
    name = "hang-on-a"
    def run(self, ctx):
        if ctx.task.name == "a":
            time.sleep(600)  # ignores its budget entirely
        return super().run(ctx)


class Garbage:
    name = "garbage"
    def run(self, ctx):
        ctx.tools.write_file("value.txt", "not a number\\n")


class Stepper:
    """Three evaluations: incorrect, halfway, at the reference."""
    name = "stepper"
    def run(self, ctx):
        for value in ("oops", "31", "10"):
            ctx.tools.write_file("value.txt", value + "\\n")
            ctx.tools.evaluate()


class Varying:
    """Each loop leaves the next value of a list (a counter in varying.txt): attempts differ."""
    name = "varying"
    def run(self, ctx):
        counter = Path(os.environ.get("AUTOLAB_TEST_COUNTER", "varying.txt"))
        done = len(counter.read_text().split()) if counter.exists() else 0
        with open(counter, "a") as f:
            f.write(ctx.task.name + "\\n")
        ctx.tools.write_file("value.txt", ("10", "100", "31")[done % 3] + "\\n")


class Sleeper:
    """Uses tools past its deadline: stopped by BudgetExhausted, scored on what is there."""
    name = "sleeper"
    def run(self, ctx):
        ctx.tools.write_file("value.txt", "50\\n")
        while True:
            ctx.tools.bash("sleep 0.2")
'''


@pytest.fixture
def agents(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(test_agents_module=AGENTS)
    (pytester.path / "test_agents_module.py").rename(pytester.path / "scripted_agents.py")
    pytester.syspathinsert()
    return "scripted_agents"


def test_oracle_scores_at_the_reference_and_nop_zero(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task("logtask")
    make_task("lintask", **{"autolab.scale": "linear"})
    result = pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*= autolab results =*",
            "task*axis*status*metric (agent / baseline / reference)*speedup*n*reward*evals*time",
            "lintask*smaller*scored*10 / 100 / 10 value*10x*1*1.000*",
            "logtask*smaller*scored*10 / 100 / 10 value*10x*1*0.500*",
            "mean reward: 0.750 over 2 task(s)",
            "by axis: smaller 0.750",
            "note: the local sandbox *(use --autolab-sandbox=docker for isolation)",
        ]
    )
    rows = results_by_task(pytester.path)
    assert rows["lintask"]["reward"] == 1.0
    assert rows["lintask"]["n"] == 1.0
    assert rows["logtask"]["reward"] == 0.5

    for run in (pytester.path / ".autolab").iterdir():
        import shutil

        shutil.rmtree(run)
    result = pytester.runpytest("tasks", "--autolab-agent=nop", "--autolab-sandbox=local")
    result.assert_outcomes(passed=6)
    rows = results_by_task(pytester.path)
    assert {r["task"]: (r["status"], r["n"], r["reward"]) for r in rows.values()} == {
        "lintask": ("scored", 0.0, 0.0),
        "logtask": ("scored", 0.0, 0.0),
    }


def test_without_an_agent_the_verifier_checks_the_baseline(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    result = pytester.runpytest("tasks", "--autolab-sandbox=local")
    assert result.ret == 0
    assert results_by_task(pytester.path)["toy"]["agent"] == "nop"
    assert results_by_task(pytester.path)["toy"]["reward"] == 0.0


def test_an_incorrect_submission_scores_zero_and_is_not_measured(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task()
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:Garbage", "--autolab-sandbox=local", "-rs"
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*not measured: the submission already failed a correctness test*"])
    row = results_by_task(pytester.path)["toy"]
    assert (row["status"], row["reward"], row["metric"]) == ("incorrect", 0.0, None)
    assert "test_value_is_an_integer" in row["reason"]


def test_a_crashing_agent_gives_agent_error_and_other_tasks_carry_on(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task("a")
    make_task("b")
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:CrashOnA", "--autolab-sandbox=local", "-rs"
    )
    result.assert_outcomes(passed=4, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "a*agent_error*0.000*",
            "b*scored*0.500*",
            "*not verified: agent_error: the agent crashed: RuntimeError: boom in the agent*",
        ]
    )
    rows = results_by_task(pytester.path)
    assert rows["a"]["status"] == "agent_error"
    assert rows["a"]["reward"] == 0.0
    assert rows["b"]["reward"] == 0.5
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    assert "RuntimeError: boom in the agent" in (run_dir / "a" / "agent" / "error.txt").read_text()


def test_a_hanging_agent_is_abandoned_with_agent_timeout(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task("a", **{"agent.timeout_sec": 1})
    make_task("b")
    result = pytester.runpytest("tasks", f"--autolab-agent={agents}:HangOnA", "--autolab-sandbox=local")
    result.assert_outcomes(passed=4, skipped=2)
    rows = results_by_task(pytester.path)
    assert rows["a"]["status"] == "agent_timeout"
    assert rows["a"]["reward"] == 0.0
    assert "did not stop within its budget" in rows["a"]["reason"]
    assert rows["b"]["status"] == "scored"
    assert rows["a"]["agent_time_s"] < 15


def test_an_agent_past_its_deadline_is_stopped_and_scored_on_what_is_there(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task(**{"agent.timeout_sec": 2})
    result = pytester.runpytest("tasks", f"--autolab-agent={agents}:Sleeper", "--autolab-sandbox=local")
    result.assert_outcomes(passed=3)
    row = results_by_task(pytester.path)["toy"]
    assert (row["status"], row["metric"]) == ("scored", 50.0)
    assert 2 <= row["agent_time_s"] < 6
    result_json = json.loads(
        next((pytester.path / ".autolab" / "runs").glob("*/toy/result.json")).read_text()
    )
    assert result_json["usage"]["stop_reason"] == "budget"


def test_a_broken_task_toml_is_reported_and_other_tasks_carry_on(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task("broken", **{"autolab.axis": "sideways"})
    make_task("good")
    result = pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*invalid task: */tasks/broken/task.toml: [[]autolab.axis[]]: expected one of faster | smarter | smaller, got 'sideways'",
            "broken*invalid_task*0.000*",
            "good*scored*0.500*",
        ]
    )
    rows = results_by_task(pytester.path)
    assert rows["broken"]["status"] == "invalid_task"


def test_environment_and_solution_are_never_collected(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task(
        environment={"value.txt": "100\n", "test_inside.py": "def test_x():\n    assert False\n"},
        solution={"value.txt": "10\n", "test_answer.py": "def test_y():\n    assert False\n"},
    )
    result = pytester.runpytest("tasks", "--collect-only", "-q")
    assert "test_inside" not in result.stdout.str()
    assert "test_answer" not in result.stdout.str()
    result.stdout.fnmatch_lines(["tasks/toy/task.toml::schema", "tasks/toy/test_toy.py::test_value"])


def test_a_resumed_run_keeps_finished_tasks_and_reruns_the_rest(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task("a")
    make_task("b")
    run_dir = pytester.path / "myrun"
    args = [
        "tasks",
        f"--autolab-agent={agents}:Counting",
        "--autolab-sandbox=local",
        f"--autolab-run-dir={run_dir}",
    ]
    pytester.runpytest(*args).assert_outcomes(passed=6)
    assert (pytester.path / "loops.txt").read_text().split() == ["a", "b"]

    (run_dir / "b" / "result.json").unlink()  # as if the run had died before b finished
    result = pytester.runpytest(*args, "--autolab-resume")
    result.assert_outcomes(passed=4, skipped=2)
    assert (pytester.path / "loops.txt").read_text().split() == ["a", "b", "b"]
    result.stdout.fnmatch_lines(["a*scored (resumed)*0.500*", "b*scored*0.500*"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {r["task"]: r["resumed"] for r in summary["results"]} == {"a": True, "b": False}


def test_resume_without_an_earlier_run_is_a_clear_usage_error(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    result = pytester.runpytest("tasks", "--autolab-resume")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--autolab-resume: no earlier run under*name one with --autolab-run-dir*"])


def test_summary_json_holds_every_field_of_the_table(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task()
    out = pytester.path / "out" / "summary.json"
    pytester.runpytest(
        "tasks", "--autolab-agent=oracle", "--autolab-sandbox=local", f"--autolab-results={out}"
    )
    summary = json.loads(out.read_text())
    assert summary == {**read_summary(pytester.path)}
    assert summary["mean_reward"] == 0.5
    assert summary["mean_reward_by_axis"] == {"smaller": 0.5}
    row = summary["results"][0]
    table_fields = {"task", "axis", "status", "metric", "baseline", "reference", "speedup", "n",
                    "reward", "evaluations", "agent_time_s", "verify_time_s"}  # fmt: skip
    assert table_fields <= row.keys()
    assert (row["metric"], row["baseline"], row["reference"], row["speedup"]) == (10.0, 100.0, 10.0, 10.0)
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["settings"]["agent"] == "oracle"
    assert "pytest" in run_json["versions"]
    result_json = json.loads((run_dir / "toy" / "result.json").read_text())
    assert result_json["status"] == "scored"
    assert isinstance(result_json["seed"], int)
    assert (run_dir / "toy" / "submission" / "value.txt").read_text() == "10\n"


def test_results_travel_from_xdist_workers_into_valid_xunit2_junit_xml_with_progress_lines(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    import xml.etree.ElementTree as ET

    from .xunit2 import xunit2_errors

    make_task("logtask")
    make_task(
        "bad", verifier=TOY_VERIFIER + "\n\ndef test_value_is_tiny(submission):\n    assert False, 'never'\n"
    )
    xml = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "tasks", "-n", "2", f"--autolab-agent={agents}:Stepper", "--autolab-sandbox=local", f"--junitxml={xml}",
        "-o", "junit_family=xunit2", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["bad*incorrect*0.000*", "logtask*scored*0.500*"])
    # The live progress lines (from the workers' ledgers, printed by the controller).
    result.stdout.fnmatch_lines(
        [
            "autolab: logtask started (budget 1:00, 5 evaluations)",
            "autolab: logtask  0:0?/1:00  evals ?/5  best n *  last: *",
            "autolab: logtask finished: scored, n 1, reward 0.5, 3 evaluations",
        ]
    )
    assert not [ln for ln in result.stdout.lines if "autolab: " in ln and not ln.startswith("autolab: ")]
    lines = [ln for ln in result.stdout.lines if ln.startswith("autolab: logtask  ")]
    assert lines[-1].endswith("evals 3/5  best n 1  last: scored, n 1"), lines
    assert xunit2_errors(xml) == []
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert {k: v for k, v in props.items() if k and k.startswith("autolab.logtask.")} == {
        "autolab.logtask.status": "scored",
        "autolab.logtask.axis": "smaller",
        "autolab.logtask.metric_name": "value",
        "autolab.logtask.metric": "10",
        "autolab.logtask.n": "1",
        "autolab.logtask.reward": "0.5",
        "autolab.logtask.evaluations": "3",
    }
    assert props["autolab.bad.status"] == "incorrect"
    assert "autolab.bad.n" not in props  # never measured: left out, not written as ""
    assert props["autolab.agent"] == f"{agents}:Stepper"
    assert props["autolab.mean_reward"] == "0.25"
    assert props["autolab.bad.status"] == "incorrect"
    assert not [case for case in suite.iter("testcase") if case.find("properties") is not None]


def test_pytest_html_shows_the_autolab_results(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    pytest.importorskip("pytest_html", reason="pytest-html is not installed (the dev extra has it)")
    make_task("logtask")
    report = pytester.path / "report.html"
    pytester.runpytest(
        "tasks",
        "--autolab-agent=oracle",
        "--autolab-sandbox=local",
        f"--html={report}",
        "--self-contained-html",
    ).assert_outcomes(passed=3)
    text = report.read_text()
    assert "autolab: agent oracle, mean reward 0.500" in text
    assert "<td>logtask</td><td>smaller</td><td>scored</td><td>10 value</td><td>1</td><td>0.500</td>" in text


def test_the_autolab_options_can_be_set_in_the_ini_file(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    pytester.makeini(
        """
        [pytest]
        autolab_agent = oracle
        autolab_sandbox = local
        autolab_budget_scale = 0.5
        autolab_results = out/summary.json
        """
    )
    result = pytester.runpytest("tasks")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["autolab: agent=oracle sandbox=local budget-scale=0.5 *", "toy*scored*0.500*"]
    )
    assert json.loads((pytester.path / "out" / "summary.json").read_text())["mean_reward"] == 0.5
    # The command line wins over the ini file.
    pytester.runpytest("tasks", "--autolab-agent=nop").stdout.fnmatch_lines(["autolab: agent=nop *"])
    pytester.makeini("[pytest]\nautolab_sandbox = vm\n")
    result = pytester.runpytest("tasks")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*autolab_sandbox (ini): 'vm': expected one of auto, docker, local*"])


def test_attempts_give_mean_standard_error_and_best_of_k(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    import math

    make_task("toy", **{"autolab.scale": "linear"})
    result = pytester.runpytest(
        "tasks", "--autolab-agent=oracle", "--autolab-sandbox=local", "--autolab-attempts=3"
    )
    result.assert_outcomes(passed=7)  # the schema once, each verifier test once per attempt
    result.stdout.fnmatch_lines(
        [
            "toy@1*scored*1.000*",
            "toy@2*scored*1.000*",
            "toy@3*scored*1.000*",
            "attempts: 3 per task: mean ± standard error, best of 3",
            "  toy: reward 1.000 ± 0.000, best of 3 1.000",
            "overall: reward 1.000 ± 0.000, best of 3 1.000",
        ]
    )
    summary = read_summary(pytester.path)
    assert summary["attempts"]["tasks"]["toy"] == {
        "attempts": 3, "rewards": [1.0, 1.0, 1.0], "mean": 1.0, "stderr": 0.0, "best": 1.0
    }  # fmt: skip
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    seeds = {json.loads((run_dir / f"toy@{k}" / "result.json").read_text())["seed"] for k in (1, 2, 3)}
    assert len(seeds) == 3  # a seed stream per attempt

    import shutil

    shutil.rmtree(pytester.path / ".autolab")
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:Varying", "--autolab-sandbox=local", "--autolab-attempts=3"
    )
    result.stdout.fnmatch_lines(["toy@1*scored*1.000*", "toy@2*scored*0.000*", "toy@3*scored*0.*"])
    stats = read_summary(pytester.path)["attempts"]
    rewards = stats["tasks"]["toy"]["rewards"]
    assert rewards[:2] == [1.0, 0.0]
    assert 0 < rewards[2] < 1
    mean = sum(rewards) / 3
    stderr = math.sqrt(sum((r - mean) ** 2 for r in rewards) / 2) / math.sqrt(3)
    assert stats["tasks"]["toy"]["mean"] == pytest.approx(mean)
    assert stats["tasks"]["toy"]["stderr"] == pytest.approx(stderr)
    assert stats["best_of_k"] == 1.0
    result.stdout.fnmatch_lines([f"overall: reward {mean:.3f} ± {stderr:.3f}, best of 3 1.000"])

    # Resume is per attempt: attempt 2's result is lost; only it runs again.
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    (run_dir / "toy@2" / "result.json").unlink()
    (pytester.path / "varying.txt").write_text("")
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:Varying", "--autolab-sandbox=local", "--autolab-attempts=3",
        "--autolab-resume", f"--autolab-run-dir={run_dir}",
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        ["toy@1*scored (resumed)*1.000*", "toy@2*scored *1.000*", "toy@3*scored (resumed)*"]
    )
    assert (pytester.path / "varying.txt").read_text().split() == ["toy"]


def test_budget_scale_shrinks_the_budget(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task(**{"agent.timeout_sec": 1000, "autolab.max_evaluations": 40})
    pytester.runpytest("tasks", "--autolab-sandbox=local", "--autolab-budget-scale=0.1")
    result_json = json.loads(
        next((pytester.path / ".autolab" / "runs").glob("*/toy/result.json")).read_text()
    )
    assert result_json["budget"] == {"time_s": 100.0, "max_evaluations": 4}


def test_hidden_seed_is_stable_for_a_run_seed_and_differs_from_the_public_one(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task(
        verifier=textwrap.dedent("""
        def test_seed(submission, record_metric):
            assert submission.hidden
            assert submission.seed != 0
            (submission.task.path.parent.parent / "seed.txt").write_text(str(submission.seed))
            record_metric(int(submission.read_file("value.txt")))
    """)
    )
    seeds = []
    for _ in range(2):
        pytester.runpytest("tasks", "--autolab-sandbox=local", "--autolab-seed=7").assert_outcomes(passed=2)
        seeds.append((pytester.path / "seed.txt").read_text())
    assert seeds[0] == seeds[1]


@pytest.mark.slow
def test_under_xdist_each_task_loop_runs_exactly_once(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    extra_tests = "\n".join(
        f"def test_extra_{i}(submission):\n    assert submission.exec('true').ok\n" for i in range(4)
    )
    for name in ("a", "b", "c"):
        make_task(
            name,
            verifier=textwrap.dedent(
                """
            def test_value_is_an_integer(submission):
                int(submission.read_file("value.txt"))
            """
            )
            + extra_tests
            + textwrap.dedent(
                """
            def test_value(submission, record_metric):
                record_metric(int(submission.read_file("value.txt")))
            """
            ),
        )
    counter = pytester.path / "loops.txt"
    result = pytester.runpytest_subprocess(
        "tasks", "-n", "2", f"--autolab-agent={agents}:Counting", "--autolab-sandbox=local",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=3 * 7)
    loops = counter.read_text().split()
    assert sorted(loops) == ["a", "b", "c"], loops
    result.stdout.fnmatch_lines(
        ["a*scored*0.500*", "b*scored*0.500*", "c*scored*0.500*", "mean reward: 0.500*"]
    )
    summary = read_summary(pytester.path)
    assert [r["reward"] for r in summary["results"]] == [0.5, 0.5, 0.5]


def test_a_hair_better_than_the_baseline_is_gated_to_zero(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    # 99.5 is 0.5% better than 100: under the default 1% gate, so the reward is 0 while n shows it.
    make_task("gated", solution={"value.txt": "99.5\n"}, verifier=TOY_FLOAT_VERIFIER)
    make_task(
        "open",
        solution={"value.txt": "99.5\n"},
        verifier=TOY_FLOAT_VERIFIER,
        **{"autolab.min_improvement": 0.0},
    )
    pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local").assert_outcomes(passed=6)
    rows = results_by_task(pytester.path)
    assert rows["gated"]["n"] > 0
    assert rows["gated"]["reward"] == 0.0
    assert "under the task's gate of 1.00%" in rows["gated"]["reason"]
    assert rows["open"]["reward"] > 0


TOY_FLOAT_VERIFIER = """
def test_value_is_a_number(submission):
    float(submission.read_file("value.txt"))


def test_value(submission, record_metric):
    record_metric(float(submission.read_file("value.txt")))
"""


def test_an_interrupted_run_can_be_resumed(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    """Ctrl-C while task b's agent works: a is kept, the resumed run finishes b only."""
    import signal
    import subprocess
    import sys
    import time

    make_task("a")
    make_task("b")
    (pytester.path / "slow_agents.py").write_text(
        "import time\n"
        "from scripted_agents import Counting\n"
        "class SlowOnB(Counting):\n"
        "    def run(self, ctx):\n"
        "        if ctx.task.name == 'b':\n"
        "            open('b-started', 'w').close()\n"
        "            time.sleep(60)\n"
        "        return super().run(ctx)\n"
    )
    args = [sys.executable, "-m", "pytest", "tasks", "--autolab-sandbox=local", "-p", "no:cacheprovider"]
    proc = subprocess.Popen(
        [*args, "--autolab-agent=slow_agents:SlowOnB"], cwd=pytester.path,
        env={**os.environ, "PYTHONPATH": str(pytester.path)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (pytester.path / "b-started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    run_dir = next((pytester.path / ".autolab" / "runs").iterdir())
    assert (run_dir / "run.json").exists()
    assert (run_dir / "a" / "result.json").exists()
    assert not (run_dir / "b" / "result.json").exists()

    resumed = subprocess.run(
        [*args, "--autolab-agent=scripted_agents:Counting", "--autolab-resume"], cwd=pytester.path,
        env={**os.environ, "PYTHONPATH": str(pytester.path)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout
    assert "scored (resumed)" in resumed.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {r["task"]: (r["resumed"], r["reward"]) for r in summary["results"]} == {
        "a": (True, 0.5),
        "b": (False, 0.5),
    }
    assert (pytester.path / "loops.txt").read_text().split() == ["a", "b"]


@pytest.mark.slow
def test_a_result_lost_with_a_crashed_worker_is_read_from_disk(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    """The worker dies right after scoring (before the report travels): the controller
    still reports the task, from its result.json."""
    make_task(
        verifier=TOY_VERIFIER
        + textwrap.dedent(
            """
            import os
            import pytest


            @pytest.fixture(scope="module", autouse=True)
            def die_after_scoring():
                yield  # torn down after the submission fixture has written result.json
                os._exit(1)
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "tasks", "-n", "1", "--max-worker-restart=0", "--autolab-agent=oracle", "--autolab-sandbox=local"
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*crashed*", "toy*scored*0.500*"])
    assert results_by_task(pytester.path)["toy"]["reward"] == 0.5


def test_files_agent_scores_a_folder_of_editable_files(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    folder = make_task("toy")
    rung = folder / "validation" / "rungs" / "halfway"
    rung.mkdir(parents=True)
    (rung / "value.txt").write_text("31\n")
    result = pytester.runpytest(
        "tasks", "--autolab-agent=files", "--autolab-agent-option", "dir=validation/rungs/halfway",
        "--autolab-sandbox=local",
    )  # fmt: skip
    result.assert_outcomes(passed=3)
    row = results_by_task(pytester.path)["toy"]
    assert row["metric"] == 31.0
    assert 0 < row["n"] < 1

    (rung / "notes.txt").write_text("not an editable file\n")
    result = pytester.runpytest(
        "tasks", "--autolab-agent=files", "--autolab-agent-option", "dir=validation/rungs/halfway",
        "--autolab-sandbox=local",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["*holds files that are not editable in toy: notes.txt*"])


def test_details_recorded_with_the_metric_land_in_result_json(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task(
        verifier=textwrap.dedent("""
        def test_value(submission, record_metric):
            value = int(submission.read_file("value.txt"))
            record_metric(value, details={"kind": "timed_speedup", "ratios": [1.5, 2.0], "rounds": 2})
    """)
    )
    pytester.runpytest("tasks", "--autolab-sandbox=local").assert_outcomes(passed=2)
    result_json = json.loads(
        next((pytester.path / ".autolab" / "runs").glob("*/toy/result.json")).read_text()
    )
    assert result_json["details"] == {"kind": "timed_speedup", "ratios": [1.5, 2.0], "rounds": 2}


def test_details_that_are_not_a_dict_are_refused(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task(
        verifier=textwrap.dedent("""
        def test_value(submission, record_metric):
            record_metric(1.0, details=[1, 2])
    """)
    )
    result = pytester.runpytest("tasks", "--autolab-sandbox=local")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*details must be a dict*"])
