"""Lab.verification: the whole verification of a task in one call, without a pytest session."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_autolab.agents import AgentContext, AgentOutcome, Cancellable
from pytest_autolab.lab import Lab, NotVerified
from pytest_autolab.sandboxes import SandboxError
from pytest_autolab.settings import RunSettings, hidden_seed
from pytest_autolab.tasks import Task, load_task

from .conftest import toy_toml, write_task


class CrashingAgent:
    name = "crashing"

    def run(self, ctx: AgentContext) -> AgentOutcome:
        raise RuntimeError("the model went away")


class HangingAgent:
    """Ignores its budget until it is cancelled."""

    name = "hanging"
    cancelled = threading.Event()

    def run(self, ctx: AgentContext) -> AgentOutcome:
        type(self).cancelled.wait(60)
        return AgentOutcome(message="told to stop")

    def cancel(self) -> None:
        type(self).cancelled.set()


@pytest.fixture
def task(tmp_path: Path) -> Task:
    folder = write_task(tmp_path, "toy", environment={"value.txt": "100\n"}, solution={"value.txt": "10\n"})
    return load_task(folder)


def new_lab(tmp_path: Path, agent: str = "oracle", **settings: object) -> Lab:
    return Lab(
        RunSettings(
            run_id=f"lab-{tmp_path.name}",
            run_dir=tmp_path / "run",
            agent=agent,
            sandbox="local",
            seed=7,
            **settings,  # type: ignore[arg-type]
        )
    )


def verify_value(lab: Lab, task: Task, **how: object) -> None:
    """What the toy verifier does: the metric is the number in value.txt."""
    with lab.verification(task, **how) as submission:  # type: ignore[arg-type]
        lab.verdict(task).metric = float(submission.read_file("value.txt"))


def result_json(lab: Lab, task: Task) -> dict[str, object]:
    return json.loads((lab.settings.run_dir / task.run_name / "result.json").read_text())  # type: ignore[no-any-return]


def test_a_verification_runs_the_loop_once_scores_and_records_the_result(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path)
    try:
        with lab.verification(task) as submission:
            assert submission.hidden
            assert submission.seed == hidden_seed(7, task)
            lab.verdict(task).metric = float(submission.read_file("value.txt"))
        with pytest.raises(SandboxError):
            submission.exec("true")  # closed at the end of the verification
    finally:
        lab.close()
    result = lab.verdict(task).result
    assert result is not None
    assert (result.status, result.n, result.reward) == ("scored", 1.0, 0.5)
    assert lab.loops_run == {"toy": 1}
    assert result_json(lab, task)["status"] == "scored"
    assert (lab.settings.run_dir / "run.json").exists()


def test_a_failing_verifier_test_makes_the_task_incorrect(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path)
    with lab.verification(task):
        lab.verdict(task).failures.append("test_value (call): assert 10 == 11")
    assert result_json(lab, task)["status"] == "incorrect"


def test_tests_that_did_not_run_leave_the_task_unscored(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path)
    with lab.verification(task, missing=lambda: ["test_toy.py::test_value"]):
        pass
    assert result_json(lab, task)["status"] == "incomplete"


def test_a_finished_task_is_kept_on_resume_and_not_verified_again(tmp_path: Path, task: Task) -> None:
    verify_value(new_lab(tmp_path), task)
    lab = new_lab(tmp_path, resume=True)
    with pytest.raises(NotVerified, match="kept by --autolab-resume") as caught, lab.verification(task):
        pytest.fail("a resumed task is not verified again")
    assert not caught.value.error
    result = lab.verdict(task).result
    assert result is not None
    assert result.resumed
    assert result.status == "scored"
    assert lab.loops_run == {}


def test_a_crashed_agent_is_recorded_and_nothing_is_verified(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path, agent=f"{__name__}:CrashingAgent")
    with pytest.raises(NotVerified, match="agent_error: the agent crashed") as caught, lab.verification(task):
        pytest.fail("nothing to verify after a crash")
    assert not caught.value.error  # the agent's outcome: the verifier's tests skip
    assert result_json(lab, task)["status"] == "agent_error"


def test_a_verification_sandbox_that_does_not_start_is_a_harness_error(
    tmp_path: Path, task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = new_lab(tmp_path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise SandboxError("no room for another sandbox")

    monkeypatch.setattr(lab, "open_submission", refuse)
    with (
        pytest.raises(NotVerified, match="could not start the verification sandbox") as caught,
        lab.verification(task),
    ):
        pytest.fail("no sandbox, no verification")
    assert caught.value.error
    recorded = result_json(lab, task)
    assert recorded["status"] == "error"
    assert "no room for another sandbox" in str(recorded["reason"])


def test_a_snapshot_is_verified_with_the_public_seed_and_not_recorded(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path, agent=f"{__name__}:CrashingAgent")  # no agent runs
    with lab.verification(task, snapshot={"value.txt": b"20\n"}) as submission:
        assert (submission.hidden, submission.seed) == (False, task.public_seed)
        lab.verdict(task).metric = float(submission.read_file("value.txt"))
    result = lab.verdict(task).result
    assert result is not None
    assert result.status == "scored"
    assert result.metric == 20.0
    assert lab.loops_run == {}
    assert not (lab.settings.run_dir / task.run_name / "result.json").exists()


def test_a_fresh_sandbox_holds_only_the_files_given_and_the_same_seed(tmp_path: Path, task: Task) -> None:
    lab = new_lab(tmp_path)
    with lab.verification(task) as submission:
        submission.write_file("scratch.txt", "left by the verifier")
        with submission.fresh({"packed.bin": b"\x00\x01"}) as other:
            assert other.seed == submission.seed
            assert other.hidden
            assert other.read_file("packed.bin") == b"\x00\x01"
            assert not other.exec("test -e scratch.txt").ok
            assert other.read_file("value.txt") == b"100\n"  # the pristine environment
        lab.verdict(task).metric = 10.0


def test_an_agent_past_its_budget_and_grace_is_cancelled_and_abandoned(tmp_path: Path) -> None:
    task = load_task(
        write_task(
            tmp_path, "toy", environment={"value.txt": "100\n"}, toml=toy_toml(**{"agent.timeout_sec": 1})
        )
    )
    assert isinstance(HangingAgent(), Cancellable)
    HangingAgent.cancelled.clear()
    lab = new_lab(tmp_path, agent=f"{__name__}:HangingAgent")
    with pytest.raises(NotVerified, match="agent_timeout") as caught, lab.verification(task):
        pytest.fail("an abandoned agent leaves nothing to verify")
    assert not caught.value.error
    assert HangingAgent.cancelled.is_set()
