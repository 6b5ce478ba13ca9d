"""The claude and codex adapters: command lines, environment, stream parsing, errors.

The end-to-end tests put a fake ``claude``/``codex`` (tests/fake_cli.py) on PATH:
it finds the autolab MCP server the way the real CLI does, drives the lab tools
over the real transport and prints the CLI's documented event stream.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_autolab.agents import AgentError, load_agent
from pytest_autolab.agents.claude import ClaudeAgent, ClaudeStream
from pytest_autolab.agents.codex import CodexAgent, CodexStream, session_usage
from pytest_autolab.tools import Budget

from .conftest import MakeTask

pytest.importorskip("mcp")

FAKE_CLI = Path(__file__).resolve().parent / "fake_cli.py"
CREDENTIAL_VARIABLES = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX", "OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL",
)  # fmt: skip


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH with fake ``claude`` and ``codex`` executables; keys set, home empty."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for flavour in ("claude", "codex"):
        script = folder / flavour
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLI}" {flavour} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-fake")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def context(time_s: float = 100.0) -> Any:
    """The part of an AgentContext the command line and environment use."""
    return SimpleNamespace(budget=Budget(time_s=time_s, max_evaluations=5))


# --- missing CLI, missing key -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "install"),
    [
        ("claude", "pip install 'pytest-autolab[claude]'"),
        ("codex", "pip install 'pytest-autolab[codex]'"),
    ],
)
def test_missing_cli_names_how_to_install_it(agent: str, install: str, fake_bin: Path) -> None:
    with pytest.raises(AgentError) as excinfo:
        load_agent(agent, {"executable": "no-such-cli-anywhere"})
    message = str(excinfo.value)
    assert "'no-such-cli-anywhere') is not on PATH" in message
    assert f"install it with `{install}`" in message
    assert "--autolab-agent-option executable=" in message


def test_claude_without_credentials_names_the_key(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(AgentError, match="set ANTHROPIC_API_KEY"):
        ClaudeAgent()
    ClaudeAgent(config_dir=str(fake_bin))  # a logged-in config folder will do instead


def test_codex_without_credentials_names_the_key(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(AgentError, match=r"set OPENAI_API_KEY .* `codex login`"):
        CodexAgent()
    login = Path(os.environ["HOME"]) / ".codex" / "auth.json"
    login.parent.mkdir(parents=True)
    login.write_text('{"tokens": {}}')
    assert CodexAgent().auth_json == login


def test_bad_numeric_option_is_named(fake_bin: Path) -> None:
    with pytest.raises(AgentError, match=r"claude agent option max_turns='many': expected a int"):
        ClaudeAgent(max_turns="many")


# --- command lines and environment ------------------------------------------------------------


def test_claude_command_line_offers_no_builtin_tool(fake_bin: Path, tmp_path: Path) -> None:
    agent = load_agent(
        "claude",
        {
            "model": "claude-sonnet-4-5",
            "max_turns": "50",
            "max_budget_usd": "2.5",
            "extra_args": "--effort high",
        },
    )
    argv = agent.command(  # type: ignore[attr-defined]  # a CLI agent's own method
        "PROMPT", server_url="http://127.0.0.1:1/mcp", home=tmp_path, workdir=tmp_path, ctx=context()
    )  # type: ignore[attr-defined]
    assert argv == [
        str(fake_bin / "claude"), "-p",
        "--output-format", "stream-json", "--verbose",
        "--mcp-config", str(tmp_path / "mcp.json"), "--strict-mcp-config",
        "--tools", "",
        "--allowedTools", "mcp__autolab",
        "--setting-sources", "",
        "--disable-slash-commands",
        "--max-turns", "50",
        "--model", "claude-sonnet-4-5",
        "--max-budget-usd", "2.5",
        "--effort", "high",
        "--", "PROMPT",
    ]  # fmt: skip


def test_claude_environment_and_mcp_config(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    agent = ClaudeAgent()
    env = agent.environment(
        server_token="TOKEN", server_url="http://127.0.0.1:9/mcp", home=tmp_path, ctx=context(100)
    )
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "claude-config")
    assert (tmp_path / "claude-config").is_dir()
    assert env["IS_SANDBOX"] == "1"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["CLAUDE_CODE_DISABLE_CLAUDE_MDS"] == "1"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "3"
    assert "ANTHROPIC_BASE_URL" not in env
    assert env["MCP_TOOL_TIMEOUT"] == "220000"
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-fake"
    config = json.loads((tmp_path / "mcp.json").read_text())
    assert config == {"mcpServers": {"autolab": {
        "type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer TOKEN"}}}}  # fmt: skip
    assert stat.S_IMODE((tmp_path / "mcp.json").stat().st_mode) == 0o600
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    env = ClaudeAgent().environment(server_token="T", server_url="u", home=tmp_path, ctx=context())
    assert "IS_SANDBOX" not in env


def test_codex_command_line_and_config_home(fake_bin: Path, tmp_path: Path) -> None:
    agent = CodexAgent(model="gpt-5-codex", reasoning_effort="high")
    work = tmp_path / "work"
    argv = agent.command(
        "PROMPT", server_url="http://127.0.0.1:9/mcp", home=tmp_path, workdir=work, ctx=context()
    )
    assert argv == [
        str(fake_bin / "codex"), "exec", "--json", "--strict-config", "--skip-git-repo-check",
        "--cd", str(work), "--sandbox", "read-only",
        "--model", "gpt-5-codex",
        "-c", 'model_reasoning_effort="high"',
        "--", "PROMPT",
    ]  # fmt: skip
    env = agent.environment(
        server_token="TOKEN", server_url="http://127.0.0.1:9/mcp", home=tmp_path, ctx=context(100)
    )
    home = tmp_path / "codex-home"
    assert env["CODEX_HOME"] == str(home)
    assert env["AUTOLAB_MCP_TOKEN"] == "TOKEN"
    config = tomllib.loads((home / "config.toml").read_text())
    assert (config["approval_policy"], config["sandbox_mode"], config["web_search"]) == (
        "never",
        "read-only",
        "disabled",
    )
    assert config["project_doc_max_bytes"] == 0
    assert config["features"] == {"shell_tool": False, "view_image": False, "goals": False, "multi_agent": False,
                                  "sleep_tool": False}  # fmt: skip
    assert config["skills"] == {"bundled": {"enabled": False}}
    assert config["mcp_servers"] == {"autolab": {
        "url": "http://127.0.0.1:9/mcp", "bearer_token_env_var": "AUTOLAB_MCP_TOKEN",
        "startup_timeout_sec": 30, "tool_timeout_sec": 220, "default_tools_approval_mode": "approve",
        "omit_tools_from": ["code_mode"]}}  # fmt: skip
    assert "model_provider" not in config
    # The CLI's own model catalog, with what adds built-in tools cleared.
    assert config["model_catalog_json"] == str(home / "models.json")
    assert json.loads((home / "models.json").read_text()) == {
        "models": [{"slug": "fake", "tool_mode": None, "shell_type": "disabled"}]
    }
    assert json.loads((home / "auth.json").read_text()) == {"OPENAI_API_KEY": "sk-openai-fake"}
    assert stat.S_IMODE((home / "auth.json").stat().st_mode) == 0o600
    assert agent.describe() == {"cli": {"path": str(fake_bin / "codex"), "found": "PATH", "version": "0.0.0"}}


def test_codex_base_url_becomes_a_responses_provider(fake_bin: Path, tmp_path: Path) -> None:
    agent = CodexAgent(base_url="http://127.0.0.1:4000/v1")
    agent.environment(server_token="T", server_url="http://127.0.0.1:9/mcp", home=tmp_path, ctx=context())
    config = tomllib.loads((tmp_path / "codex-home" / "config.toml").read_text())
    assert config["model_provider"] == "autolab-endpoint"
    provider = config["model_providers"]["autolab-endpoint"]
    assert (provider["base_url"], provider["wire_api"], provider["env_key"]) == (
        "http://127.0.0.1:4000/v1",
        "responses",
        "OPENAI_API_KEY",
    )


def test_codex_key_from_codex_api_key_reaches_a_custom_provider(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider reads OPENAI_API_KEY only (measured with 0.163.0): a CODEX_API_KEY is passed on.
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("CODEX_API_KEY", "sk-codex")
    agent = CodexAgent(base_url="http://127.0.0.1:4000/v1")
    env = agent.environment(server_token="T", server_url="u", home=tmp_path, ctx=context())
    assert env["OPENAI_API_KEY"] == "sk-codex"
    assert "OPENAI_API_KEY" not in CodexAgent().environment(
        server_token="T", server_url="u", home=tmp_path, ctx=context()
    )


# --- stream parsing: the documented shapes ----------------------------------------------------

CLAUDE_INIT = {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-x",
               "mcp_servers": [{"name": "autolab", "status": "connected"}]}  # fmt: skip


def claude_message(msg_id: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 50,
        "cache_read_input_tokens": 500,
        "output_tokens": 7,
    }
    return {"type": "assistant", "message": {"id": msg_id, "content": list(blocks), "usage": usage}}


TOOL_USE = {"type": "tool_use", "id": "t1", "name": "mcp__autolab__evaluate", "input": {}}


def feed(parser: ClaudeStream | CodexStream, events: list[dict[str, Any]]) -> None:
    for event in events:
        parser.feed_line(json.dumps(event) + "\n")


def test_claude_success_result_gives_turns_tokens_cost_and_message() -> None:
    stream = ClaudeStream()
    feed(stream, [CLAUDE_INIT, claude_message("m1", TOOL_USE), {"type": "result", "subtype": "success",
         "is_error": False, "num_turns": 4, "result": "Done: 10.", "total_cost_usd": 0.25, "duration_ms": 900,
         "usage": {"input_tokens": 10, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 70,
                   "output_tokens": 30}}])  # fmt: skip
    stream.feed_line("not json\n")
    outcome = stream.outcome(returncode=0, stopped=None, stderr="")
    assert (outcome.stop_reason, outcome.message) == ("done", "Done: 10.")
    usage = outcome.usage
    # turns: the model's replies; num_turns: the CLI's own count (tool uses + 1 in 2.1).
    assert (usage["turns"], usage["num_turns"], usage["cost_usd"], usage["duration_ms"]) == (1, 4, 0.25, 900)
    assert (usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (100, 70, 30)
    assert (usage["model"], usage["mcp_status"], usage["tool_uses"]) == ("claude-x", "connected", 1)
    assert stream.garbage == 1


def test_claude_max_turns_result_is_a_stop_not_an_error() -> None:
    stream = ClaudeStream()
    feed(stream, [CLAUDE_INIT, claude_message("m1", TOOL_USE),
                  {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 51,
                   "total_cost_usd": 1.5, "usage": {}}])  # fmt: skip
    outcome = stream.outcome(returncode=1, stopped=None, stderr="")
    assert outcome.stop_reason == "max_turns"
    assert outcome.usage["num_turns"] == 51


def test_claude_error_before_any_tool_call_is_an_agent_error() -> None:
    stream = ClaudeStream()
    feed(stream, [{**CLAUDE_INIT, "mcp_servers": [{"name": "autolab", "status": "failed"}]},
                  {"type": "result", "subtype": "success", "is_error": True, "num_turns": 1,
                   "result": "Invalid API key · Fix external API key"}])  # fmt: skip
    with pytest.raises(
        AgentError, match=r"Claude Code failed; Invalid API key.*autolab MCP server was failed.*boom"
    ):
        stream.outcome(returncode=1, stopped=None, stderr="boom")


def test_claude_error_after_tool_calls_is_a_stop_so_the_files_are_scored() -> None:
    stream = ClaudeStream()
    feed(stream, [CLAUDE_INIT, claude_message("m1", TOOL_USE),
                  {"type": "result", "subtype": "error_during_execution", "is_error": True, "num_turns": 2}])  # fmt: skip
    assert stream.outcome(returncode=1, stopped=None, stderr="").stop_reason == "error"


def test_claude_killed_before_the_result_line_sums_the_messages() -> None:
    stream = ClaudeStream()
    text = {"type": "text", "text": "trying a 62-comparator network"}
    # One message arrives as several events with the same id and usage: counted once.
    feed(
        stream,
        [
            CLAUDE_INIT,
            claude_message("m1", text),
            claude_message("m1", TOOL_USE),
            claude_message("m2", TOOL_USE),
        ],
    )
    outcome = stream.outcome(returncode=-9, stopped="budget", stderr="")
    assert (outcome.stop_reason, outcome.message) == ("budget", "trying a 62-comparator network")
    usage = outcome.usage
    assert (usage["turns"], usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (
        2,
        1110,
        1000,
        14,
    )
    assert usage["cost_usd"] is None


def test_claude_crash_without_result_and_without_work_is_an_agent_error() -> None:
    stream = ClaudeStream()
    with pytest.raises(
        AgentError, match=r"exited with code 2 before its result line.*unknown option '--strict-mcp-config'"
    ):
        stream.outcome(returncode=2, stopped=None, stderr="error: unknown option '--strict-mcp-config'\n")


def test_claude_error_ending_keeps_its_reason_and_counts_every_request() -> None:
    # The result's usage misses the last request of an error ending; modelUsage has it.
    stream = ClaudeStream()
    feed(stream, [CLAUDE_INIT, claude_message("m1", TOOL_USE), claude_message("m2", {"type": "text", "text": "next"}),
                  {"type": "result", "subtype": "error_max_budget_usd", "is_error": True, "num_turns": 2,
                   "errors": ["Reached maximum budget ($0.01)"], "total_cost_usd": 0.0104,
                   "usage": {"input_tokens": 1000, "output_tokens": 60},
                   "modelUsage": {"m": {"inputTokens": 2000, "outputTokens": 120, "cacheReadInputTokens": 10,
                                        "cacheCreationInputTokens": 0, "costUSD": 0.0104}}}])  # fmt: skip
    outcome = stream.outcome(returncode=1, stopped=None, stderr="")
    assert (outcome.stop_reason, outcome.message) == ("max_cost", "Reached maximum budget ($0.01)")
    usage = outcome.usage
    assert (usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (2010, 10, 120)
    assert usage["errors"] == ["Reached maximum budget ($0.01)"]
    assert usage["turns"] == 2


def test_claude_refused_key_is_fatal_at_the_first_retry() -> None:
    stream = ClaudeStream()
    feed(
        stream,
        [
            {
                "type": "system",
                "subtype": "api_retry",
                "attempt": 1,
                "error_status": 529,
                "error": "overloaded",
            }
        ],
    )
    assert stream.fatal == ""
    feed(stream, [{"type": "system", "subtype": "api_retry", "attempt": 2, "error_status": 401,
                   "error": "authentication_failed"}])  # fmt: skip
    assert "HTTP 401 (authentication_failed)" in stream.fatal
    assert stream.retries == 2


def test_claude_killed_takes_output_tokens_from_the_transcript(tmp_path: Path) -> None:
    # The stream's per-message usage is written before the reply ends (output_tokens 3).
    stream = ClaudeStream()
    early = {"input_tokens": 1000, "output_tokens": 3}
    feed(
        stream,
        [CLAUDE_INIT, {"type": "assistant", "message": {"id": "m1", "content": [TOOL_USE], "usage": early}}],
    )
    transcript = tmp_path / "claude-config" / "projects" / "-tmp-work" / "s.jsonl"
    transcript.parent.mkdir(parents=True)
    final = {"input_tokens": 1000, "output_tokens": 60}
    transcript.write_text(
        json.dumps({"type": "assistant", "message": {"id": "m1", "usage": final}}) + "\nnot json\n"
    )
    stream.collect(tmp_path)
    outcome = stream.outcome(returncode=-9, stopped="budget", stderr="")
    assert (outcome.usage["output_tokens"], outcome.usage["output_tokens_exact"]) == (60, True)


def test_claude_base_url_option_sets_the_endpoint_and_is_recorded(fake_bin: Path, tmp_path: Path) -> None:
    agent = ClaudeAgent(base_url="http://127.0.0.1:5")
    env = agent.environment(server_token="T", server_url="u", home=tmp_path, ctx=context())
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:5"
    described = agent.describe()
    assert described["base_url"] == "http://127.0.0.1:5"
    assert described["cli"] == {
        "path": str(fake_bin / "claude"),
        "found": "PATH",
        "version": "0.0.0 (fake claude)",
    }


def test_find_cli_falls_back_to_the_binary_a_package_bundles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_autolab.agents._cli import find_cli

    binary = tmp_path / "bundling_pkg" / "_bundled" / "tool"
    binary.parent.mkdir(parents=True)
    (tmp_path / "bundling_pkg" / "__init__.py").write_text("raise ImportError('never imported')\n")
    binary.write_text("#!/bin/sh\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_cli(None, "no-such-tool-on-path", package="bundling_pkg", bundled="_bundled/tool") is None
    binary.chmod(0o755)
    found = find_cli(None, "no-such-tool-on-path", package="bundling_pkg", bundled="_bundled/tool")
    assert found == {"path": str(binary), "found": "bundled with the Python package bundling-pkg"}
    assert find_cli(None, "sh", package="bundling_pkg", bundled="_bundled/tool") == {
        "path": shutil.which("sh"), "found": "PATH"}  # fmt: skip


CODEX_TOOL_CALL: dict[str, Any] = {"type": "item.completed", "item": {"id": "i1", "type": "mcp_tool_call", "server": "autolab",
                                                       "tool": "evaluate", "arguments": {}, "status": "completed"}}  # fmt: skip


def test_codex_success_gives_tokens_refusals_other_tools_and_message() -> None:
    stream = CodexStream(prices=(1.0, 10.0))
    failed = {"type": "item.completed", "item": {**CODEX_TOOL_CALL["item"], "status": "failed",
              "error": {"message": "MCP tool call requires approval, but approval policy is never"}}}  # fmt: skip
    resources = {"type": "item.completed", "item": {"id": "i3", "type": "mcp_tool_call", "server": "autolab",
                 "tool": "list_mcp_resources", "status": "completed"}}  # fmt: skip
    feed(stream, [{"type": "thread.started", "thread_id": "t-9"}, {"type": "turn.started"},
                  {"type": "item.completed", "item": {"id": "i0", "type": "error", "message": "unknown model"}},
                  {"type": "item.completed", "item": {"id": "i1", "type": "reasoning", "text": "hm"}},
                  CODEX_TOOL_CALL, failed, resources,
                  {"type": "item.completed", "item": {"id": "i4", "type": "command_execution", "command": "ls"}},
                  {"type": "item.completed", "item": {"id": "i2", "type": "agent_message", "text": "All done."}},
                  {"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 800,
                                                       "output_tokens": 100}}])  # fmt: skip
    outcome = stream.outcome(returncode=0, stopped=None, stderr="")
    assert (outcome.stop_reason, outcome.message) == ("done", "All done.")
    usage = outcome.usage
    assert (usage["thread_id"], usage["turns"], usage["failed_tool_calls"]) == ("t-9", 1, 1)
    assert usage["first_failure"] == "MCP tool call requires approval, but approval policy is never"
    # Lab tool calls are counted by the MCP server (CLIAgent.run), not here.
    assert "tool_calls" not in usage
    assert usage["other_tool_calls"] == {"autolab.list_mcp_resources": 1, "command_execution": 1}
    assert usage["cli_warnings"] == ["unknown model"]
    assert (usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (1000, 800, 100)
    assert usage["cost_usd"] == pytest.approx(0.002)


def test_codex_failed_turn_before_any_tool_call_is_an_agent_error() -> None:
    stream = CodexStream()
    feed(stream, [{"type": "thread.started", "thread_id": "t"}, {"type": "error", "message": "stream error: 401"},
                  {"type": "turn.failed", "error": {"message": "401 Unauthorized"}}])  # fmt: skip
    with pytest.raises(AgentError, match="Codex failed: 401 Unauthorized"):
        stream.outcome(returncode=1, stopped=None, stderr="")


def test_codex_failure_after_tool_calls_is_a_stop() -> None:
    stream = CodexStream()
    feed(stream, [CODEX_TOOL_CALL, {"type": "turn.failed", "error": {"message": "context window exceeded"}}])
    outcome = stream.outcome(returncode=1, stopped=None, stderr="")
    assert (outcome.stop_reason, outcome.message) == ("error", "context window exceeded")


def test_codex_killed_before_the_turn_completed() -> None:
    stream = CodexStream()
    feed(stream, [{"type": "thread.started", "thread_id": "t"}, CODEX_TOOL_CALL])
    outcome = stream.outcome(returncode=-15, stopped="budget", stderr="")
    assert outcome.stop_reason == "budget"
    assert outcome.usage["turns"] == 0


def test_codex_session_files_give_requests_and_tokens_of_every_thread(tmp_path: Path) -> None:
    assert session_usage(tmp_path / "none") is None
    record = {"type": "token_usage_record", "payload": {"usage": {"input_tokens": 100, "cached_input_tokens": 60,
              "output_tokens": 5}}}  # fmt: skip
    for name, count in (("2026/12/01/rollout-root.jsonl", 3), ("2026/12/01/rollout-sub.jsonl", 2)):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "\n".join([json.dumps({"type": "session_meta"}), *[json.dumps(record)] * count, "{broken"])
        )
    assert session_usage(tmp_path) == {
        "turns": 5, "requests": 5, "input_tokens": 500, "output_tokens": 25, "cached_tokens": 300
    }  # fmt: skip


# --- end to end: a real inner pytest run with the fake CLI on PATH ------------------------------


def run_cli_agent(
    pytester: pytest.Pytester, make_task: MakeTask, agent: str, *args: str
) -> tuple[pytest.RunResult, Path]:
    make_task()
    result = pytester.runpytest_subprocess(
        "tasks", "-p", "no:cacheprovider", f"--autolab-agent={agent}", "--autolab-sandbox=local", *args
    )
    (run,) = sorted((pytester.path / ".autolab" / "runs").iterdir())
    return result, run / "toy"


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_cli_agent_works_through_the_mcp_server_and_is_scored(
    agent: str, pytester: pytest.Pytester, make_task: MakeTask, fake_bin: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    result, folder = run_cli_agent(pytester, make_task, agent)

    assert result.ret == 0, result.stdout.str()
    outcome = json.loads((folder / "result.json").read_text())
    assert (outcome["status"], outcome["metric"], outcome["reward"]) == ("scored", 10.0, 0.5)
    assert outcome["evaluations"] == 1
    assert outcome["usage"]["stop_reason"] == "done"
    assert outcome["usage"]["message"] == "value.txt now holds 10."
    assert outcome["loop"]["improvements"] == 1
    # What the CLI got: an empty working directory, stdin closed, the server's token.
    seen = json.loads(record.read_text())
    assert seen["cwd_entries"] == []
    assert seen["stdin"] == ""
    assert seen["argv"][-2:-1] == ["--"]
    assert seen["argv"][-1].startswith("Make the number in value.txt as small as you can.")
    assert "evaluate (scores the editable files" in seen["argv"][-1]
    if agent == "claude":
        assert outcome["usage"]["cost_usd"] == 0.0123
        assert outcome["usage"]["turns"] == 3
        assert seen["env"]["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    else:
        assert outcome["usage"]["tool_calls"] == {"write_file": 1, "evaluate": 1}
        assert outcome["usage"]["input_tokens"] == 2000
        assert outcome["usage"]["cli"] == {
            "path": str(fake_bin / "codex"),
            "found": "PATH",
            "version": "0.0.0",
        }
        assert seen["env"]["AUTOLAB_MCP_TOKEN"]
    # The run directory keeps the raw stream, the journal of tool calls and the command line.
    agent_dir = folder / "agent"
    stream = [json.loads(line) for line in (agent_dir / f"{agent}.jsonl").read_text().splitlines()]
    assert stream
    journal = [json.loads(line) for line in (agent_dir / "tool_calls.jsonl").read_text().splitlines()]
    assert [j["tool"] for j in journal] == ["write_file", "evaluate"]
    command = json.loads((agent_dir / "command.json").read_text())
    assert command["argv"][-1] == "<prompt>"
    assert "sk-" not in (agent_dir / "command.json").read_text()


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_cli_agent_failing_at_once_is_an_agent_error(
    agent: str,
    pytester: pytest.Pytester,
    make_task: MakeTask,
    fake_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "fail")
    result, folder = run_cli_agent(pytester, make_task, agent)
    outcome = json.loads((folder / "result.json").read_text())
    assert outcome["status"] == "agent_error"
    assert ("Invalid API key" if agent == "claude" else "401 Unauthorized") in outcome["reason"]
    result.stdout.fnmatch_lines(["*toy*agent_error*"])


def test_cli_agent_still_running_at_the_deadline_is_killed_and_scored(
    pytester: pytest.Pytester, make_task: MakeTask, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "hang")
    # 60 s x 0.25: fifteen seconds of budget (six were too few on a loaded machine to start
    # the fake, which writes value.txt and then hangs until it is killed).
    result, folder = run_cli_agent(pytester, make_task, "claude", "--autolab-budget-scale=0.25")
    assert result.ret == 0, result.stdout.str()
    outcome = json.loads((folder / "result.json").read_text())
    assert (outcome["status"], outcome["metric"]) == ("scored", 10.0)
    assert outcome["usage"]["stop_reason"] == "budget"
    assert outcome["usage"]["turns"] == 1
    # Killed shortly after the deadline (KILL_GRACE_S, then SIGTERM/SIGKILL), not abandoned.
    assert 15 <= outcome["agent_time_s"] < 15 + 15


def test_a_key_refused_after_some_work_stops_the_cli_at_once_and_scores_the_files(
    pytester: pytest.Pytester, make_task: MakeTask, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "refused")
    result, folder = run_cli_agent(pytester, make_task, "claude")
    assert result.ret == 0, result.stdout.str()
    outcome = json.loads((folder / "result.json").read_text())
    assert (outcome["status"], outcome["metric"]) == ("scored", 10.0)
    assert outcome["usage"]["stop_reason"] == "error"
    assert "HTTP 401" in outcome["usage"]["message"]
    assert outcome["agent_time_s"] < 30  # not the fake's 600-second retry


def test_a_run_without_the_cli_fails_up_front_saying_how_to_install_it(
    pytester: pytest.Pytester, make_task: MakeTask, fake_bin: Path
) -> None:
    make_task()
    result = pytester.runpytest_subprocess(
        "tasks", "-p", "no:cacheprovider", "--autolab-agent=claude", "--autolab-sandbox=local",
        "--autolab-agent-option=executable=no-claude-here",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--autolab-agent=claude: *not on PATH: install it with `pip install 'pytest-autolab?claude?'`*"]
    )
    assert not (pytester.path / ".autolab").exists()


def test_a_cli_that_does_not_start_fails_the_session_up_front(
    pytester: pytest.Pytester, make_task: MakeTask, fake_bin: Path
) -> None:
    (fake_bin / "claude").write_text("#!/bin/sh\necho 'node: not found' >&2\nexit 127\n")
    make_task()
    result = pytester.runpytest_subprocess(
        "tasks", "-p", "no:cacheprovider", "--autolab-agent=claude", "--autolab-sandbox=local"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--autolab-agent=claude: *does not start: `claude --version` exited 127: node: not found"]
    )
