"""The built-in ``llm`` agent against a scripted OpenAI-compatible server, on discover_sorting.

Every test is a real inner pytest session (``runpytest_subprocess``) over a copy of
tasks/discover_sorting, with the agent talking real HTTP to ScriptedEndpoint on
127.0.0.1 and the lab tools working in a local sandbox.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_autolab.agents import AgentContext, AgentError, AgentOutcome
from pytest_autolab.agents.llm import LLMAgent
from pytest_autolab.sandboxes.local import LocalBackend
from pytest_autolab.tools import Budget, LabTools

from .conftest import MakeTask
from .scripted_endpoint import (
    GREEN_16,
    ScriptedEndpoint,
    call,
    calls,
    network_module,
    raw_call,
    say,
    status,
)
from .test_tools import FakeEvaluator, write_toy_task

pytest.importorskip("openai")

REPO = Path(__file__).resolve().parent.parent
SORTING = REPO / "tasks" / "discover_sorting"

#: Wrong: the first 40 comparators of Green's network do not sort.
BROKEN = GREEN_16[:40]
#: Right but not optimal: 63 comparators (three redundant ones at the end change nothing).
NEAR = [*GREEN_16, (0, 1), (1, 2), (2, 3)]


@pytest.fixture
def sorting_task(pytester: pytest.Pytester) -> Path:
    """A copy of tasks/discover_sorting in the pytester folder."""
    if not (SORTING / "instruction.md").is_file():
        pytest.skip("tasks/discover_sorting is not complete yet")
    target = pytester.path / "tasks" / "discover_sorting"
    shutil.copytree(SORTING, target, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    return target


def run_llm(pytester: pytest.Pytester, endpoint: ScriptedEndpoint, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "tasks",
        "-p", "no:cacheprovider",
        "--autolab-agent=llm",
        f"--autolab-agent-option=base_url={endpoint.base_url}",
        "--autolab-agent-option=model=scripted-model",
        "--autolab-agent-option=api_key=sk-test",
        "--autolab-agent-option=retry_base_s=0.05",
        "--autolab-sandbox=local",
        *args,
    )  # fmt: skip


def task_folder(pytester: pytest.Pytester) -> Path:
    (run,) = sorted((pytester.path / ".autolab" / "runs").iterdir())
    return run / "discover_sorting"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.mark.slow
def test_scripted_agent_recovers_from_a_broken_network_and_reaches_the_reference(
    pytester: pytest.Pytester, sorting_task: Path
) -> None:
    script = [
        calls(call("read_file", path="solve.py"), call("bash", command="python3 check.py")),
        call("write_file", path="solve.py", content=network_module(BROKEN)),
        call("evaluate"),
        call("write_file", path="solve.py", content=network_module(NEAR)),
        call("evaluate"),
        call("write_file", path="solve.py", content=network_module(GREEN_16)),
        call("evaluate"),
        say("Green's 60-comparator network is in solve.py."),
    ]
    with ScriptedEndpoint(script) as endpoint:
        result = run_llm(pytester, endpoint)

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*discover_sorting*smaller*scored*60 / 80 / 60*1.000*3*"])
    result.stdout.fnmatch_lines(
        [
            "*discover_sorting loop: 3 evaluations (2 correct), 2 improvements, 1 recovery, best n 1 at *s (hidden seed: 1), anytime 0.* (hidden seed: 0.*)"
        ]
    )
    folder = task_folder(pytester)
    outcome = json.loads((folder / "result.json").read_text())
    assert (outcome["status"], outcome["metric"], outcome["reward"]) == ("scored", 60.0, 1.0)
    assert outcome["evaluations"] == 3

    ledger = read_jsonl(folder / "ledger.jsonl")
    assert [e["correct"] for e in ledger] == [False, True, True]
    assert [e["metric"] for e in ledger] == [None, 63.0, 60.0]
    assert ledger[1]["n"] == pytest.approx(0.85)
    assert "binary inputs unsorted" in ledger[0]["failure"]
    for entry in ledger:  # each evaluation's files are kept
        assert (folder / "snapshots" / entry["snapshot"] / "solve.py").is_file()

    loop = outcome["loop"]
    assert (loop["evaluations"], loop["correct"], loop["improvements"], loop["recoveries"]) == (3, 2, 2, 1)
    assert loop["best_n"] == 1.0
    assert loop["final_n"] == 1.0
    assert loop["submitted"] == "final"
    assert loop["final_snapshot"] == loop["best_snapshot"] == ledger[2]["snapshot"]
    assert 0.0 < loop["anytime"] < 1.0

    usage = outcome["usage"]
    assert usage["stop_reason"] == "done"
    assert usage["message"] == "Green's 60-comparator network is in solve.py."
    assert (usage["turns"], usage["requests"], usage["input_tokens"], usage["output_tokens"]) == (
        8,
        8,
        8000,
        400,
    )
    assert usage["tool_calls"] == {"read_file": 1, "bash": 1, "write_file": 3, "evaluate": 3}

    # The model saw the failing evaluation, and its deadline.
    assert len(endpoint.requests) == 8
    first = endpoint.requests[0]["messages"]
    assert "deadline" in first[0]["content"]
    assert first[1]["content"] == (SORTING / "instruction.md").read_text()
    failed = json.loads(tool_messages(endpoint.requests[3])[-1].rsplit("\n[time left", 1)[0])
    assert failed["correct"] is False
    assert "unsorted" in failed["failures"][0]
    assert "[time left:" in tool_messages(endpoint.requests[1])[0]

    trajectory = read_jsonl(folder / "agent" / "trajectory.jsonl")
    assert [e["type"] for e in trajectory] == ["start", *["step"] * 8, "end"]
    assert trajectory[-1]["stop_reason"] == "done"
    assert trajectory[3]["observations"][0]["name"] == "evaluate"


def test_rate_limit_is_retried_and_the_run_goes_on(pytester: pytest.Pytester, sorting_task: Path) -> None:
    script = [
        status(429, retry_after="0", message="rate limited"),
        status(503, retry_after=None, message="overloaded"),
        call("write_file", path="solve.py", content=network_module(GREEN_16)),
        say("done"),
    ]
    with ScriptedEndpoint(script) as endpoint:
        result = run_llm(pytester, endpoint)

    assert result.ret == 0, result.stdout.str()
    folder = task_folder(pytester)
    outcome = json.loads((folder / "result.json").read_text())
    assert (outcome["status"], outcome["reward"]) == ("scored", 1.0)
    assert outcome["usage"]["retries"] == 2
    assert outcome["usage"]["requests"] == 4
    retries = [e for e in read_jsonl(folder / "agent" / "trajectory.jsonl") if e["type"] == "retry"]
    assert [r["error"][:3] for r in retries] == ["429", "503"]
    assert retries[0]["delay_s"] == 0  # Retry-After: 0 was honoured
    assert len(endpoint.requests) == 4


def test_auth_error_is_not_retried(pytester: pytest.Pytester, sorting_task: Path) -> None:
    with ScriptedEndpoint([status(401, message="invalid key")]) as endpoint:
        result = run_llm(pytester, endpoint)

    assert len(endpoint.requests) == 1
    outcome = json.loads((task_folder(pytester) / "result.json").read_text())
    assert outcome["status"] == "agent_error"
    assert "refused the credentials (401)" in outcome["reason"]
    result.stdout.fnmatch_lines(["*agent_error*"])


@pytest.mark.slow
def test_agent_asking_for_tools_past_the_deadline_is_stopped_and_scored_on_its_files(
    pytester: pytest.Pytester, sorting_task: Path
) -> None:
    # 1800 s x 0.012 = 21.6 s of budget and one evaluation; then the model never stops.
    script = [
        call("write_file", path="solve.py", content=network_module(NEAR)),
        call("evaluate"),
        call("evaluate"),  # refused: no evaluations left
        call("bash", command="sleep 1; echo still working"),
    ]
    with ScriptedEndpoint(script) as endpoint:
        result = run_llm(pytester, endpoint, "--autolab-budget-scale=0.012")

    assert result.ret == 0, result.stdout.str()
    folder = task_folder(pytester)
    outcome = json.loads((folder / "result.json").read_text())
    assert outcome["status"] == "scored"
    assert outcome["metric"] == 63.0
    assert outcome["reward"] == pytest.approx(0.85)
    assert outcome["usage"]["stop_reason"] == "budget"
    assert outcome["evaluations"] == 1
    assert outcome["budget"]["time_s"] == pytest.approx(21.6)
    assert outcome["agent_time_s"] < outcome["budget"]["time_s"] + 5
    refused = tool_messages(endpoint.requests[3])[-1]
    assert "no evaluations left" in refused
    trajectory = read_jsonl(folder / "agent" / "trajectory.jsonl")
    assert trajectory[-1]["type"] == "end"
    assert trajectory[-1]["stop_reason"] == "budget"
    assert len(read_jsonl(folder / "ledger.jsonl")) == 1


def test_malformed_tool_calls_are_reported_back_and_bounded(
    pytester: pytest.Pytester, sorting_task: Path
) -> None:
    script = [
        raw_call("write_file", '{"path": "solve.py", "content": '),  # cut-off JSON
        call("launch_rockets", count=3),  # no such tool
        call("status"),  # a good call resets the count
        call("bash", cmd="ls"),  # wrong argument name
        raw_call("bash", "[1, 2]"),
        raw_call("read_file", "not json at all"),
        call("status"),  # never reached: three malformed turns in a row stop the agent
    ]
    with ScriptedEndpoint(script) as endpoint:
        result = run_llm(pytester, endpoint)

    assert result.ret == 0, result.stdout.str()
    assert len(endpoint.requests) == 6
    errors = [tool_messages(request)[-1] for request in endpoint.requests[1:]]
    assert "malformed tool call: write_file: the arguments are not valid JSON" in errors[0]
    assert (
        "unknown tool 'launch_rockets': the tools are bash, read_file, write_file, evaluate, status"
        in errors[1]
    )
    assert "unknown argument(s) cmd; it takes command, timeout" in errors[3]
    assert "must be a JSON object" in errors[4]
    outcome = json.loads((task_folder(pytester) / "result.json").read_text())
    assert outcome["usage"]["stop_reason"] == "malformed"
    assert outcome["usage"]["malformed_tool_calls"] == 5
    # The starting program was left as it was: scored, at the baseline.
    assert (outcome["status"], outcome["metric"], outcome["reward"]) == ("scored", 80.0, 0.0)


# --- in process: the loop against the scripted server, lab tools on the toy task ----------------


@pytest.fixture
def toy_context(tmp_path: Path) -> Iterator[AgentContext]:
    """An AgentContext over the toy task: a local sandbox, real lab tools, a fake evaluator."""
    task = write_toy_task(tmp_path)
    backend = LocalBackend(run_id=f"llm-{time.time_ns()}")
    with backend.start(task, role="agent") as sandbox:
        tools = LabTools(task=task, sandbox=sandbox, budget=Budget(60, 3), evaluator=FakeEvaluator())
        yield AgentContext(task, task.instruction, sandbox, tools.budget, tools, tmp_path / "agent")
    backend.sweep()


def run_in_process(endpoint: ScriptedEndpoint, ctx: AgentContext, **options: str) -> AgentOutcome:
    agent = LLMAgent(
        base_url=endpoint.base_url, model="scripted", api_key="sk-test", retry_base_s="0", **options
    )
    return agent.run(ctx)


def test_missing_openai_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(
        AgentError, match=r"needs the 'openai' package .* pip install 'pytest-autolab\[agents\]'"
    ):
        LLMAgent(model="m", base_url="http://127.0.0.1:1/v1")


def test_options_and_environment_configure_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTOLAB_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AgentError, match="needs a model: --autolab-agent-option model=NAME or AUTOLAB_MODEL"):
        LLMAgent()
    with pytest.raises(AgentError, match="set OPENAI_API_KEY or --autolab-agent-option api_key"):
        LLMAgent(model="gpt-4.1")
    with pytest.raises(AgentError, match=r"option max_turns='lots': expected a int"):
        LLMAgent(model="m", base_url="http://h/v1", max_turns="lots")
    with pytest.raises(AgentError, match=r"option temperature='-1': expected at least 0"):
        LLMAgent(model="m", base_url="http://h/v1", temperature="-1")
    monkeypatch.setenv("AUTOLAB_MODEL", "qwen3-coder")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    agent = LLMAgent(max_turns="12", temperature="0.2")
    assert (agent.model, agent.base_url, agent.max_turns, agent.temperature) == (
        "qwen3-coder", "http://127.0.0.1:8000/v1", 12, 0.2
    )  # fmt: skip


def test_a_context_overflow_trims_old_observations_and_retries(toy_context: AgentContext) -> None:
    script = [
        call("bash", command="seq 1 500"),
        status(400, retry_after=None, message="This model's maximum context length is 8192 tokens"),
        say("done"),
    ]
    with ScriptedEndpoint(script) as endpoint:
        outcome = run_in_process(endpoint, toy_context)
    assert outcome.stop_reason == "done"
    assert tool_messages(endpoint.requests[1])[0].startswith("exit code 0")
    assert tool_messages(endpoint.requests[2])[0].startswith("[observation trimmed to save context")
    assert outcome.usage["trimmed_observations"] == 1


def test_old_observations_are_trimmed_when_the_context_fills(toy_context: AgentContext) -> None:
    big = "head -c 2000 /dev/zero | tr '\\0' a"
    script = [*[call("bash", command=big) for _ in range(6)], call("write_file", path="value.txt", content="9" * 3000),
              *[call("bash", command=big) for _ in range(3)], say("done")]  # fmt: skip
    with ScriptedEndpoint(script) as endpoint:
        outcome = run_in_process(endpoint, toy_context, context_tokens="2000", keep_observations="2")
    last = endpoint.requests[-1]
    contents = tool_messages(last)
    assert all(c.startswith("[observation trimmed") for c in contents[:-2])
    assert all(c.startswith("exit code 0") for c in contents[-2:])
    written = next(c for m in last["messages"] if m.get("tool_calls") for c in m["tool_calls"]
                   if c["function"]["name"] == "write_file")  # fmt: skip
    assert json.loads(written["function"]["arguments"]) == {
        "path": "value.txt", "content": "[observation trimmed to save context (3000 characters); rerun the tool if you need it]"
    }  # fmt: skip
    assert outcome.usage["trimmed_observations"] >= 6


def test_tokens_and_cost_are_accounted(toy_context: AgentContext) -> None:
    reported = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110, "cost": 0.25,
                "prompt_tokens_details": {"cached_tokens": 60}}  # fmt: skip
    script = [{**call("status"), "usage": reported}, {**say("done"), "usage": reported}]
    with ScriptedEndpoint(script) as endpoint:
        outcome = run_in_process(endpoint, toy_context)
    usage = outcome.usage
    assert (usage["input_tokens"], usage["output_tokens"], usage["cached_tokens"], usage["cost_usd"]) == (
        200, 20, 120, 0.5
    )  # fmt: skip
    with ScriptedEndpoint([say("done")]) as endpoint:
        priced = run_in_process(endpoint, toy_context, input_cost_per_mtok="2", output_cost_per_mtok="10")
    assert priced.usage["cost_usd"] == pytest.approx((1000 * 2 + 50 * 10) / 1e6)
    with ScriptedEndpoint([say("done")]) as endpoint:
        assert run_in_process(endpoint, toy_context).usage["cost_usd"] is None


def test_a_cut_off_reply_is_not_a_stop_and_max_turns_is(toy_context: AgentContext) -> None:
    script = [{**say("I will now wri"), "finish_reason": "length"}, call("status"), call("status")]
    with ScriptedEndpoint(script) as endpoint:
        outcome = run_in_process(endpoint, toy_context, max_turns="3")
    assert outcome.stop_reason == "max_turns"
    assert endpoint.requests[1]["messages"][-1] == {
        "role": "user", "content": "your reply was cut off or empty; continue, with a tool call if you need one"
    }  # fmt: skip
    trajectory = read_jsonl(toy_context.log_dir / "trajectory.jsonl")
    assert [e["type"] for e in trajectory] == ["start", "step", "step", "step", "end"]


@pytest.mark.parametrize(("submit", "metric"), [("best", 10.0), ("final", None)])
def test_submit_best_scores_the_best_evaluated_snapshot_and_both_are_reported(
    submit: str, metric: float | None, pytester: pytest.Pytester, make_task: MakeTask
) -> None:
    make_task()
    script = [
        call("write_file", path="value.txt", content="10\n"),
        call("evaluate"),
        call("write_file", path="value.txt", content="ten, or so\n"),  # a regression, never evaluated
        say("done"),
    ]
    with ScriptedEndpoint(script) as endpoint:
        pytester.runpytest_subprocess(
            "tasks", "-p", "no:cacheprovider", "--autolab-agent=llm", "--autolab-sandbox=local",
            f"--autolab-agent-option=base_url={endpoint.base_url}", "--autolab-agent-option=model=m",
            f"--autolab-submit={submit}",
        )  # fmt: skip
    (run,) = sorted((pytester.path / ".autolab" / "runs").iterdir())
    outcome = json.loads((run / "toy" / "result.json").read_text())
    assert outcome["metric"] == metric
    assert outcome["status"] == ("scored" if submit == "best" else "incorrect")
    loop = outcome["loop"]
    assert loop["submitted"] == submit
    assert (loop["best_n"], loop["final_n"]) == (1.0, None)
    assert loop["final_snapshot"] != loop["best_snapshot"]
    scored = loop["best_snapshot"] if submit == "best" else loop["final_snapshot"]
    assert loop["submitted_snapshot"] == scored
    assert (run / "toy" / "submission" / "value.txt").read_text() == (
        "10\n" if submit == "best" else "ten, or so\n"
    )
