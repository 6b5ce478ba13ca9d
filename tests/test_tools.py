"""The lab tools: one implementation for every agent, the budget enforced by the tools."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_autolab.evaluation import (
    Evaluation,
    fork_server,
    run_verifier,
    verifier_command,
    verifier_environment,
)
from pytest_autolab.ledger import Ledger
from pytest_autolab.sandboxes.local import LocalBackend, LocalSandbox
from pytest_autolab.tasks import Task, load_task
from pytest_autolab.tools import (
    OBSERVATION_LIMIT,
    TOOL_SPECS,
    Budget,
    BudgetExhausted,
    LabTools,
    ToolCallError,
    parse_arguments,
)

from .conftest import TOY_VERIFIER, toy_toml


def write_toy_task(root: Path, **toml: Any) -> Task:
    """The toy task (value.txt, lower is better) in ``root/toy``."""
    folder = root / "toy"
    files = {
        "task.toml": toy_toml(**toml),
        "instruction.md": "Make the number in value.txt as small as you can.\n",
        "test_toy.py": textwrap.dedent(TOY_VERIFIER),
        "environment/value.txt": "100\n",
        "solution/value.txt": "10\n",
    }
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return load_task(folder)


@pytest.fixture
def toy(tmp_path: Path) -> Task:
    return write_toy_task(tmp_path)


@pytest.fixture
def sandbox(toy: Task) -> Iterator[LocalSandbox]:
    backend = LocalBackend(run_id=f"tools-{time.time_ns()}")
    with backend.start(toy, role="agent") as box:
        yield box
    backend.sweep()


class FakeEvaluator:
    """Scores value.txt like the toy verifier, without a child pytest; records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, bytes], float | None]] = []

    def __call__(self, files: Mapping[str, bytes], *, limit_s: float | None = None) -> Evaluation:
        self.calls.append((dict(files), limit_s))
        try:
            value = int(files["value.txt"])
        except (KeyError, ValueError) as exc:
            return Evaluation("incorrect", False, None, None, 0.0, [f"test_value: {exc}"], "", 0.01)
        n = (100 - value) / 90
        return Evaluation("scored", True, float(value), n, max(0.0, min(1.0, n)), [], "", 0.01)


def make_tools(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path, *, time_s: float = 60, evaluations: int = 3
) -> tuple[LabTools, FakeEvaluator]:
    evaluator = FakeEvaluator()
    tools = LabTools(
        task=toy,
        sandbox=sandbox,
        budget=Budget(time_s=time_s, max_evaluations=evaluations),
        evaluator=evaluator,
        ledger=Ledger(tmp_path / "run" / "toy"),
    )
    return tools, evaluator


# --- bash ---------------------------------------------------------------------------------------


def test_bash_runs_in_the_app_dir(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    result = tools.bash("pwd; cat value.txt; echo oops >&2; exit 3")
    assert result["exit_code"] == 3
    assert result["output"].splitlines() == [sandbox.workdir, "100", "oops"]
    assert (result["timed_out"], result["note"]) == (False, "")


def test_bash_output_is_trimmed_head_and_tail_with_a_note(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    result = tools.bash("echo FIRST; head -c 100000 /dev/zero | tr '\\0' x; echo; echo LAST")
    assert len(result["output"]) < OBSERVATION_LIMIT + 200
    assert result["output"].startswith("FIRST")
    assert result["output"].rstrip().endswith("LAST")
    assert "characters cut: narrow the command's output" in result["output"]
    assert "cut in the middle" in result["note"]


def test_bash_timeout_kills_the_command(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    start = time.monotonic()
    result = tools.bash("sleep 30", timeout=0.5)
    assert time.monotonic() - start < 10
    assert result["timed_out"] is True
    assert result["note"].startswith("killed after")


def test_bash_never_runs_past_the_deadline(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path, time_s=1.0)
    start = time.monotonic()
    result = tools.bash("sleep 30", timeout=300)
    assert time.monotonic() - start < 5
    assert "(the deadline)" in result["note"]
    with pytest.raises(BudgetExhausted, match="stop now"):
        tools.bash("true")


# --- files --------------------------------------------------------------------------------------


def test_write_then_read_a_file(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    assert tools.write_file("value.txt", "42\n") == "wrote 3 characters to value.txt"
    assert tools.read_file("value.txt") == "42\n"
    note = tools.write_file("notes/scratch.txt", "x")
    assert "not an editable file: it will not be scored" in note
    assert (Path(sandbox.workdir) / "notes" / "scratch.txt").read_text() == "x"


def test_file_errors_come_back_as_observations(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    assert tools.call("read_file", {"path": "missing.txt"}).startswith("error: missing.txt does not exist")
    assert tools.call("write_file", {"path": "../escape.txt", "content": "x"}).startswith(
        "error: refused path"
    )
    assert tools.call("read_file", '{"path": "/etc/passwd"}').startswith("error: refused path")


# --- evaluate and status ------------------------------------------------------------------------


def test_evaluate_scores_the_editable_files_and_records_them(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    tools, evaluator = make_tools(toy, sandbox, tmp_path)
    tools.write_file("value.txt", "55\n")
    result = tools.evaluate()
    assert (result["correct"], result["metric"], result["normalized_score"]) == (True, 55.0, 0.5)
    assert result["evaluations_left"] == 2
    files, limit = evaluator.calls[0]
    assert files == {"value.txt": b"55\n"}
    assert limit is not None
    assert 55 < limit <= 60  # the evaluation may not run past the deadline
    assert tools.ledger is not None
    assert [e["metric"] for e in tools.ledger.entries] == [55.0]
    assert tools.status()["best"]["metric"] == 55.0


def test_evaluate_refuses_once_the_evaluations_are_spent(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    tools, evaluator = make_tools(toy, sandbox, tmp_path, evaluations=1)
    tools.evaluate()
    assert tools.evaluate() == {"error": "no evaluations left (all 1 used)", "evaluations_left": 0}
    assert len(evaluator.calls) == 1
    assert tools.budget.evaluations_used == 1


def test_status_tells_what_is_left_and_the_best(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    tools.write_file("value.txt", "not a number")
    tools.evaluate()
    tools.write_file("value.txt", "70")
    tools.evaluate()
    tools.write_file("value.txt", "90")
    tools.evaluate()  # worse: the best stays at 70
    status = tools.status()
    assert (status["evaluations_left"], status["evaluations_used"]) == (0, 3)
    assert status["best"]["metric"] == 70.0
    assert 0 < status["time_left_s"] <= 60
    assert status["deadline"].endswith("+00:00")


def test_a_failed_snapshot_is_a_failed_evaluation(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, evaluator = make_tools(toy, sandbox, tmp_path)
    app = Path(sandbox.workdir)
    (app / "value.txt").unlink()
    (app / "value.txt").symlink_to("/etc/hostname")
    result = tools.evaluate()
    assert result["correct"] is False
    assert "cannot take the snapshot" in result["error"]
    assert evaluator.calls == []
    assert tools.ledger is not None
    assert tools.ledger.entries[0]["failure"].startswith("cannot take the snapshot")


def test_a_crashing_evaluator_is_a_failed_evaluation(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    def broken(files: Mapping[str, bytes], *, limit_s: float | None = None) -> Evaluation:
        raise OSError("disk full")

    tools = LabTools(task=toy, sandbox=sandbox, budget=Budget(60, 3), evaluator=broken)
    result = tools.evaluate()
    assert result["error"] == "the harness could not run the verifier: OSError: disk full"


def test_after_the_deadline_every_tool_but_status_refuses(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    tools, evaluator = make_tools(toy, sandbox, tmp_path, time_s=0.0)
    for name, arguments in [("bash", {"command": "true"}), ("read_file", {"path": "value.txt"}),
                            ("write_file", {"path": "value.txt", "content": "1"}), ("evaluate", {})]:  # fmt: skip
        with pytest.raises(BudgetExhausted, match=r"the time budget \(0 s\) is spent: stop now"):
            tools.call(name, arguments)
    assert evaluator.calls == []
    assert json.loads(tools.call("status").split("\n[time left")[0])["time_left_s"] == 0
    assert tools.calls == {"bash": 1, "read_file": 1, "write_file": 1, "evaluate": 1, "status": 1}


# --- the model-facing dispatch ------------------------------------------------------------------


def test_every_observation_ends_with_what_is_left(toy: Task, sandbox: LocalSandbox, tmp_path: Path) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    text = tools.call("bash", {"command": "echo hi"})
    head, footer = text.rsplit("\n", 1)
    assert head.startswith("exit code 0 (")
    assert head.endswith("\nhi")
    assert footer.startswith("[time left: ")
    assert footer.endswith("; evaluations left: 3 of 3]")
    evaluation = json.loads(tools.call("evaluate", "{}").rsplit("\n", 1)[0])
    assert evaluation["correct"] is True


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("rm_rf", {}, "unknown tool 'rm_rf': the tools are bash, read_file, write_file, evaluate, status"),
        ("bash", '{"command": "ls"', "bash: the arguments are not valid JSON"),
        ("bash", "[]", "bash: the arguments must be a JSON object, got list"),
        ("bash", {}, "bash: missing the required argument 'command'"),
        ("bash", {"command": "ls", "cwd": "/"}, "bash: unknown argument(s) cwd; it takes command, timeout"),
        ("bash", {"command": 3}, "bash: argument 'command' must be a string, got 3"),
        ("bash", {"command": "ls", "timeout": True}, "argument 'timeout' must be a number, got true"),
        ("evaluate", {"now": 1}, "evaluate: unknown argument(s) now; it takes no arguments"),
    ],
)
def test_malformed_calls_raise_tool_call_error_naming_the_fix(
    name: str, arguments: Any, message: str
) -> None:
    with pytest.raises(ToolCallError) as excinfo:
        parse_arguments(name, arguments)
    assert message in str(excinfo.value)


def test_well_formed_calls_parse() -> None:
    assert parse_arguments("bash", '{"command": "ls", "timeout": 5}') == {"command": "ls", "timeout": 5}
    assert parse_arguments("bash", {"command": "ls", "timeout": None}) == {"command": "ls", "timeout": None}
    assert parse_arguments("evaluate", "") == {}
    assert parse_arguments("status", None) == {}
    assert [spec["name"] for spec in TOOL_SPECS] == ["bash", "read_file", "write_file", "evaluate", "status"]


def test_briefing_names_the_files_the_budget_and_the_deadline(
    toy: Task, sandbox: LocalSandbox, tmp_path: Path
) -> None:
    tools, _ = make_tools(toy, sandbox, tmp_path)
    briefing = tools.briefing()
    assert "Editable files (only these are scored): value.txt." in briefing
    assert "60 s of wall-clock time (deadline 20" in briefing
    assert "3 evaluate() calls" in briefing
    assert "baseline 100, reference 10" in briefing


# --- evaluate() in a child pytest ---------------------------------------------------------------


def test_the_inner_run_names_its_plugins_instead_of_autoloading_them(toy: Task, tmp_path: Path) -> None:
    command = verifier_command(toy, tmp_path / "s", tmp_path / "o.json", sandbox="local", run_id="r")
    plugins = [command[i + 1] for i, arg in enumerate(command) if arg == "-p"]
    assert plugins[:2] == ["no:cacheprovider", "pytest_autolab.plugin"]
    assert "xdist" not in plugins
    assert "autolab" not in plugins
    assert "hypothesispytest" in plugins
    assert verifier_environment()["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"


@pytest.fixture
def sweep_after() -> Iterator[None]:
    """Remove the sandbox folders the inner runs of these tests leave (the plugin sweeps a real run)."""
    yield
    for run_id in ("tools-rv", "tools-cut"):
        LocalBackend(run_id=run_id).sweep()


@pytest.fixture(params=["fork", "plain"])
def child_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """evaluate()'s inner pytest forked from the warm server, or a plain child process."""
    monkeypatch.setenv("AUTOLAB_EVALUATE_FORK", "1" if request.param == "fork" else "0")
    return str(request.param)


@pytest.mark.usefixtures("sweep_after", "child_kind")
def test_run_verifier_scores_a_snapshot_with_public_inputs(toy: Task, tmp_path: Path) -> None:
    evaluation = run_verifier(
        toy, {"value.txt": b"10\n"}, scratch=tmp_path / "s", sandbox="local", run_id="tools-rv"
    )
    assert (evaluation.status, evaluation.metric, evaluation.n, evaluation.reward) == (
        "scored",
        10.0,
        1.0,
        0.5,
    )
    failed = run_verifier(
        toy, {"value.txt": b"ten\n"}, scratch=tmp_path / "f", sandbox="local", run_id="tools-rv"
    )
    assert failed.status == "incorrect"
    assert "test_value_is_an_integer" in failed.failures[0]


@pytest.mark.usefixtures("sweep_after", "child_kind")
def test_run_verifier_is_cut_at_the_deadline(tmp_path: Path) -> None:
    slow = TOY_VERIFIER + "\n\ndef test_slow(submission):\n    import time\n    time.sleep(60)\n"
    task = write_toy_task(tmp_path)
    (task.path / "test_toy.py").write_text(textwrap.dedent(slow))
    start = time.monotonic()
    evaluation = run_verifier(
        task, {"value.txt": b"10\n"}, scratch=tmp_path / "s", sandbox="local", run_id="tools-cut", limit_s=3.0
    )
    assert time.monotonic() - start < 3.0 + 8
    assert evaluation.status == "error"
    assert evaluation.error == "the deadline came 3 s into the evaluation: it was cut"

    assert "KeyboardInterrupt" in (tmp_path / "s" / "pytest.log").read_text()  # interrupted, not killed blind


@pytest.mark.usefixtures("sweep_after")
def test_evaluations_at_the_same_time_both_get_a_verdict(toy: Task, tmp_path: Path) -> None:
    # The fork server takes one at a time; the other falls back to a plain child.
    results: dict[int, Evaluation] = {}

    def evaluate(i: int) -> None:
        results[i] = run_verifier(
            toy,
            {"value.txt": f"{20 + i}\n".encode()},
            scratch=tmp_path / str(i),
            sandbox="local",
            run_id="tools-rv",
        )

    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(float(r.metric or 0) for r in results.values()) == [20.0, 21.0]


@pytest.mark.usefixtures("sweep_after")
def test_a_dead_fork_server_does_not_stop_evaluations(toy: Task, tmp_path: Path) -> None:
    server = fork_server()
    assert server is not None
    run_verifier(toy, {"value.txt": b"10\n"}, scratch=tmp_path / "a", sandbox="local", run_id="tools-rv")
    assert server._proc is not None
    os.killpg(server._proc.pid, signal.SIGKILL)
    again = run_verifier(
        toy, {"value.txt": b"11\n"}, scratch=tmp_path / "b", sandbox="local", run_id="tools-rv"
    )
    assert again.metric == 11.0
    server.broken = False  # had it given up (a plain child then), let the rest of the session fork again


@pytest.mark.usefixtures("sweep_after")
def test_a_fork_server_killed_during_an_evaluation_falls_back_to_a_plain_child(
    toy: Task, tmp_path: Path
) -> None:
    server = fork_server()
    assert server is not None
    server.broken = False
    # A verifier slow enough that the server can be killed while it runs.
    verifier = (
        toy.verifier_path.read_text()
        .replace("def test_value(", "import time\n\n\ndef test_value(", 1)
        .replace(
            'record_metric(int(submission.read_file("value.txt")))',
            'time.sleep(2)\n    record_metric(int(submission.read_file("value.txt")))',
        )
    )
    toy.verifier_path.write_text(verifier)
    run_verifier(toy, {"value.txt": b"10\n"}, scratch=tmp_path / "warm", sandbox="local", run_id="tools-rv")
    assert server._proc is not None
    victim = server._proc.pid
    killer = threading.Timer(1.0, os.killpg, args=(victim, signal.SIGKILL))
    killer.start()
    try:
        again = run_verifier(
            toy, {"value.txt": b"12\n"}, scratch=tmp_path / "b", sandbox="local", run_id="tools-rv"
        )
    finally:
        killer.join()
    assert again.metric == 12.0, again
    server.broken = False


@pytest.mark.usefixtures("sweep_after")
def test_evaluate_shows_the_agent_what_the_verifier_recorded_about_its_metric(tmp_path: Path) -> None:
    """record_metric(..., details=) reaches the agent: per-category scores to diagnose with."""
    task = write_toy_task(tmp_path)
    (task.path / "test_toy.py").write_text(
        textwrap.dedent(TOY_VERIFIER).replace(
            'record_metric(int(submission.read_file("value.txt")))',
            'record_metric(int(submission.read_file("value.txt")), details={"by_category": [0.5, 0.9]})',
        )
    )
    evaluation = run_verifier(
        task, {"value.txt": b"10\n"}, scratch=tmp_path / "s", sandbox="local", run_id="tools-rv"
    )
    assert evaluation.status == "scored"
    assert evaluation.for_agent()["details"] == {"by_category": [0.5, 0.9]}


def test_long_details_are_summarised_for_the_agent() -> None:
    from pytest_autolab.results import TaskResult

    result = TaskResult(
        task="t", axis="faster", status="scored", agent="a", metric=1.0, details={"rows": list(range(5000))}
    )
    told = Evaluation.from_result(result, 1.0).for_agent()["details"]
    assert isinstance(told, str)
    assert "left out" in told
    assert "rows" in told
    assert (
        "details"
        not in Evaluation.from_result(
            TaskResult(task="t", axis="faster", status="scored", agent="a", metric=1.0), 1.0
        ).for_agent()
    )


def test_bash_output_and_exec_output_are_cut_alike() -> None:
    from pytest_autolab.sandboxes import cap_output
    from pytest_autolab.tools import trim

    text = "".join(chr(ord("a") + i % 26) for i in range(1001))
    trimmed = trim(text, 100)
    capped, cut = cap_output(text.encode(), 100)
    assert cut == 901
    assert trimmed.startswith(text[:50] + "\n[... 901 characters cut")
    assert capped.startswith(text[:50] + "\n[... 901 bytes cut")
    assert trimmed.endswith("\n" + text[-50:])
    assert capped.endswith("\n" + text[-50:])
    assert trim("short", 100) == "short"
