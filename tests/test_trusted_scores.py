"""Acceptance tests of issue 7: a score depends on the submission alone, harness faults are
loud, and the plugin leaves other projects alone (real inner pytest sessions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import MakeTask, results_by_task

#: Agents for the inner sessions (written next to the tasks; the inner session imports them).
AGENTS = '''
import warnings
from pytest_autolab import AgentOutcome
from pytest_autolab.agents.builtin import OracleAgent


class Garbage:
    name = "garbage"
    def run(self, ctx):
        ctx.tools.write_file("value.txt", "not a number\\n")


class Warns(OracleAgent):
    """The oracle, plus the kind of warning a harness or an agent library can leave."""
    name = "warns"
    def run(self, ctx):
        warnings.warn("something the agent's library warns about", DeprecationWarning)
        open(__file__).close()
        handle = open(__file__)  # left unclosed: a ResourceWarning when it is collected
        handle.read(1)
        return super().run(ctx)


class OddUsage(OracleAgent):
    name = "odd-usage"
    def run(self, ctx):
        super().run(ctx)
        return AgentOutcome(message="done \\udcff", usage={"handle": object(), (1, 2): {3}})


class ReturnsText(OracleAgent):
    name = "returns-text"
    def run(self, ctx):
        super().run(ctx)
        return "all done"


class SurrogateCrash:
    name = "surrogate-crash"
    def run(self, ctx):
        raise RuntimeError("cannot decode \\udcff here")


class TakesKey(OracleAgent):
    name = "takes-key"
    def __init__(self, api_key="", model=""):
        self.api_key = api_key
'''


@pytest.fixture
def agents(pytester: pytest.Pytester) -> str:
    (pytester.path / "trust_agents.py").write_text(AGENTS)
    pytester.syspathinsert()
    return "trust_agents"


def only_run_dir(root: Path) -> Path:
    (run,) = sorted((root / ".autolab" / "runs").iterdir())
    return run


# --- 2b: a score does not depend on how pytest was invoked ---------------------------------------


@pytest.mark.parametrize(
    "selection",
    [
        ["-k", "test_value and not integer"],
        ["tasks/toy/test_toy.py::test_value"],
        ["--deselect", "tasks/toy/test_toy.py::test_value_is_an_integer"],
    ],
    ids=["-k", "node id", "--deselect"],
)
def test_a_task_whose_verifier_ran_in_part_is_not_scored(
    selection: list[str], pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    args = selection if selection[0].startswith("tasks/") else ["tasks", *selection]
    result = pytester.runpytest(*args, "--autolab-agent=oracle", "--autolab-sandbox=local")
    result.stdout.fnmatch_lines(["toy*incomplete*0.000*", "not scored: toy: only part of the verifier ran*"])
    row = results_by_task(pytester.path)["toy"]
    assert (row["status"], row["reward"], row["n"]) == ("incomplete", 0.0, None)
    assert "test_value_is_an_integer" in row["reason"]


def test_a_task_run_in_part_is_not_kept_by_resume(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task()
    run_dir = pytester.path / "myrun"
    common = ["--autolab-agent=oracle", "--autolab-sandbox=local", f"--autolab-run-dir={run_dir}"]
    pytester.runpytest("tasks", "-k", "integer", *common)
    assert json.loads((run_dir / "toy" / "result.json").read_text())["status"] == "incomplete"
    result = pytester.runpytest("tasks", *common, "--autolab-resume")
    result.assert_outcomes(passed=3)
    row = json.loads((run_dir / "toy" / "result.json").read_text())
    assert (row["status"], row["reward"], row["resumed"]) == ("scored", 0.5, False)


def test_last_failed_after_a_failure_does_not_score_the_task(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task()
    pytester.runpytest("tasks", f"--autolab-agent={agents}:Garbage", "--autolab-sandbox=local")
    import shutil

    shutil.rmtree(pytester.path / ".autolab")
    result = pytester.runpytest("tasks", "--lf", "--autolab-agent=oracle", "--autolab-sandbox=local")
    result.stdout.fnmatch_lines(["*run-last-failure*"])
    assert results_by_task(pytester.path)["toy"]["status"] == "incomplete"


def test_after_x_stops_the_session_the_summary_names_the_tasks_that_never_ran(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task("a")
    make_task("b")
    result = pytester.runpytest("tasks", "-x", f"--autolab-agent={agents}:Garbage", "--autolab-sandbox=local")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["a*incorrect*0.000*", "not run: b (the session stopped before their verifiers*"]
    )
    summary = json.loads((only_run_dir(pytester.path) / "summary.json").read_text())
    assert summary["not_run"] == ["b"]


def test_a_missing_cli_or_model_fails_the_session_up_front_in_one_line(
    pytester: pytest.Pytester, make_task: MakeTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task()
    monkeypatch.delenv("AUTOLAB_MODEL", raising=False)
    result = pytester.runpytest("tasks", "--autolab-agent=llm", "--autolab-sandbox=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --autolab-agent=llm: the llm agent needs a model*"])
    assert not (pytester.path / ".autolab").exists()


def test_a_credential_given_as_an_agent_option_is_written_nowhere(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task()
    secret = "sk-do-not-write-me-7f3a"
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:TakesKey", "--autolab-sandbox=local",
        "--autolab-agent-option", f"api_key={secret}", "--autolab-agent-option=model=m1",
    )  # fmt: skip
    result.assert_outcomes(passed=3)
    run = only_run_dir(pytester.path)
    for path in run.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    settings = json.loads((run / "run.json").read_text())["settings"]
    assert settings["agent_options"] == {"api_key": "<redacted>", "model": "m1"}


def test_a_users_timeout_wins_over_the_plugins_backstop(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task(
        verifier="""
        import time

        def test_slow(submission, record_metric):
            time.sleep(20)
            record_metric(int(submission.read_file("value.txt")))
        """
    )
    result = pytester.runpytest("tasks", "--autolab-sandbox=local", "--timeout=5")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes  # in setup or in the call
    result.stdout.fnmatch_lines(["*Timeout (>5.0s)*"])


# --- 2: harness faults are loud and never decide a verdict ----------------------------------------


def test_a_task_the_harness_could_not_verify_fails_the_session(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    pytester.makeconftest(
        """
        import pytest
        from pytest_autolab.sandboxes import SandboxError
        from pytest_autolab.sandboxes.local import LocalBackend

        @pytest.fixture(autouse=True, scope="session")
        def broken_backend():
            def start(self, task, **kwargs):
                raise SandboxError("the engine went away")
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(LocalBackend, "start", start)
                yield
        """
    )
    result = pytester.runpytest("tasks", "--autolab-sandbox=local")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*not verified: harness error: the engine went away*", "toy*error*"])


def test_an_engine_failure_inside_a_verifier_test_is_a_harness_error_not_a_wrong_answer(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    verifier = """
from pytest_autolab.sandboxes import SandboxError, SnapshotError


def test_value(submission, record_metric):
    if submission.read_file("value.txt").strip() == b"10":
        raise SandboxError("cannot run a command in the container: 409 Conflict")
    raise SnapshotError("refused 'value.txt': it is a symbolic link")
"""
    make_task("engine", verifier=verifier)
    make_task("cheat", verifier=verifier, solution={"value.txt": "11\n"})
    result = pytester.runpytest("tasks", "--autolab-agent=oracle", "--autolab-sandbox=local")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = results_by_task(pytester.path)
    # The engine's failure is no verdict on the submission ...
    assert rows["engine"]["status"] == "error"
    assert "the harness failed during verification" in rows["engine"]["reason"]
    assert "409 Conflict" in rows["engine"]["reason"]
    # ... while a file the submission made uncopyable stays its own fault.
    assert rows["cheat"]["status"] == "incorrect"
    assert rows["cheat"]["reward"] == 0.0


def test_a_harness_warning_never_decides_the_verdict(
    pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task()
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result = pytester.runpytest(
        "tasks", f"--autolab-agent={agents}:Warns", "--autolab-sandbox=local", "-W", "error"
    )
    result.assert_outcomes(passed=3)
    row = results_by_task(pytester.path)["toy"]
    assert (row["status"], row["reward"]) == ("scored", 0.5)
    result.stdout.fnmatch_lines(["note: harness warning*DeprecationWarning*"])


@pytest.mark.parametrize(
    ("agent", "status", "reason"),
    [
        ("OddUsage", "scored", ""),
        ("ReturnsText", "agent_error", "the agent's run() returned str, expected an AgentOutcome or None"),
        ("SurrogateCrash", "agent_error", "the agent crashed: RuntimeError: cannot decode \\udcff here"),
    ],
)
def test_whatever_an_agent_returns_or_raises_the_task_gets_a_result(
    agent: str, status: str, reason: str, pytester: pytest.Pytester, make_task: MakeTask, agents: str
) -> None:
    make_task()
    result = pytester.runpytest("tasks", f"--autolab-agent={agents}:{agent}", "--autolab-sandbox=local")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*= autolab results =*", f"toy*{status}*"])
    row = results_by_task(pytester.path)["toy"]
    assert (row["status"], row["reason"]) == (status, reason)
    folder = only_run_dir(pytester.path) / "toy"
    written: dict[str, Any] = json.loads((folder / "result.json").read_text())
    if agent == "OddUsage":
        assert written["usage"]["handle"].startswith("<object object at")
        assert written["usage"]["(1, 2)"] == [3]
    if agent == "SurrogateCrash":
        assert "cannot decode \\udcff here" in (folder / "agent" / "error.txt").read_text()


def test_a_lab_says_when_it_removed_containers_of_a_dead_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_autolab import lab as lab_module
    from pytest_autolab.lab import Lab, RunSettings

    class Backend:
        name = "docker"
        orphans_removed = 2

    monkeypatch.setattr(lab_module, "get_backend", lambda *args, **kwargs: Backend())
    lab = Lab(RunSettings(run_id="r", run_dir=tmp_path))
    assert lab.backend.name == "docker"
    assert lab.notes == [
        "removed 2 Docker container(s) left by an earlier harness that died (killed, or crashed) "
        "before it could clean up"
    ]


# --- 3: other projects are left alone ----------------------------------------------------------------


@pytest.mark.slow
def test_a_plain_project_keeps_its_own_xdist_distribution(pytester: pytest.Pytester) -> None:
    for name in ("test_one", "test_two"):
        pytester.makepyfile(**{name: "\n".join(f"def test_{i}():\n    pass\n" for i in range(6))})
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    workers: dict[str, set[str]] = {}
    for line in result.stdout.lines:
        if "PASSED" in line and "::" in line:
            worker = line.split("]")[0].split("[")[-1]
            module = line.split("::")[0].split()[-1]
            workers.setdefault(module, set()).add(worker)
    assert set(workers) == {"test_one.py", "test_two.py"}
    assert all(len(found) == 1 for found in workers.values()), workers
    assert "TaskScheduling" not in result.stdout.str()


def test_dist_each_is_refused_in_an_autolab_run(pytester: pytest.Pytester, make_task: MakeTask) -> None:
    make_task()
    result = pytester.runpytest("tasks", "-n", "1", "--dist", "each", "--autolab-sandbox=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dist each runs every test on every worker*"])


def test_autolab_is_not_requested_by_a_plain_project(pytester: pytest.Pytester) -> None:
    from pytest_autolab.plugin import autolab_requested

    pytester.makepyfile(test_plain="def test_x():\n    pass\n")
    config = pytester.parseconfigure(".")
    assert not autolab_requested(config)
    (pytester.path / "tasks" / "t").mkdir(parents=True)
    (pytester.path / "tasks" / "t" / "task.toml").write_text("")
    assert autolab_requested(pytester.parseconfigure("tasks"))
    assert autolab_requested(pytester.parseconfigure(".", "--autolab-sandbox=local"))


# --- 5: the loop statistics are re-verified on the hidden seed -----------------------------------

SEEDED_VERIFIER = """
def test_answers_this_seed(submission):
    seed, _ = submission.read_file("value.txt").split()
    assert int(seed) == submission.seed, "value.txt answers another seed"


def test_value(submission, record_metric):
    record_metric(int(submission.read_file("value.txt").split()[1]))
"""

PUBLIC_ANSWER_AGENT = '''
class PublicAnswer:
    """Hard-codes the answer of the public seed, evaluates it, and stops."""
    name = "public-answer"
    def run(self, ctx):
        ctx.tools.write_file("value.txt", f"{ctx.task.public_seed} 10\\n")
        ctx.tools.evaluate()
'''


def test_the_loops_best_n_and_anytime_score_are_reported_on_the_hidden_seed_too(
    pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task(environment={"value.txt": "0 100\n"}, verifier=SEEDED_VERIFIER, **{"autolab.public_seed": 5})
    (pytester.path / "public_agent.py").write_text(PUBLIC_ANSWER_AGENT)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "tasks", "--autolab-agent=public_agent:PublicAnswer", "--autolab-sandbox=local"
    )
    result.stdout.fnmatch_lines(
        [
            "toy loop: 1 evaluations (1 correct), 1 improvements, 0 recoveries, "
            "best n 1 at *s (hidden seed: -), anytime * (hidden seed: 0.000)"
        ]
    )
    loop = json.loads((only_run_dir(pytester.path) / "toy" / "result.json").read_text())["loop"]
    assert loop["best_n"] == 1.0
    assert loop["anytime"] > 0.5
    hidden = loop["hidden"]
    assert (hidden["best_n"], hidden["anytime"], hidden["verified"]) == (None, 0.0, 1)
    assert hidden["snapshots"][0]["status"] == "incorrect"
    assert results_by_task(pytester.path)["toy"]["loop"]["hidden"]["best_n"] is None
