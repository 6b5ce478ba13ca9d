"""The ``codex`` agent: the Codex CLI, headless, with the lab tools as its only tools.

    pytest tasks/ --autolab-agent=codex [--autolab-agent-option model=gpt-5-codex]

Needs the CLI (``npm install -g @openai/codex``) and a key: OPENAI_API_KEY (or
CODEX_API_KEY), or a ``codex login`` (its auth.json is copied). The command line::

    codex exec --json --skip-git-repo-check --cd <empty tmp dir> --sandbox read-only
      [--model M] [-c model_reasoning_effort=E] [extra args] -- <instruction + how the run works>

with stdin closed and CODEX_HOME a temporary folder holding::

    config.toml   approval_policy = "never", its shell and web tools off, and
                  [mcp_servers.autolab] url = ..., bearer_token_env_var = "AUTOLAB_MCP_TOKEN"
    auth.json     the key (deleted with the folder after the run)

Options: ``executable``, ``model``, ``reasoning_effort``, ``base_url`` (or
OPENAI_BASE_URL: a Responses-API endpoint, written as a model provider),
``auth_json`` (a login's auth.json to use), ``extra_args`` (split like a shell),
``input_cost_per_mtok`` / ``output_cost_per_mtok`` (Codex reports no cost).

From the JSON events (``agent/codex.jsonl``: ``thread.started``, ``turn.*``,
``item.*``, ``error``) the result gets tokens, tool calls and the final message.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from ._cli import CLIAgent, StreamParser, copy_tree
from ._protocol import AgentContext, AgentError, AgentOutcome
from ._registry import parse_numeric_option
from .mcp_server import SERVER_NAME

__all__ = ["CodexAgent", "CodexStream", "codex_config"]

#: The environment variable that carries the MCP server's bearer token to Codex.
TOKEN_VARIABLE = "AUTOLAB_MCP_TOKEN"


def _toml(value: Any) -> str:
    """A TOML scalar (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def codex_config(*, server_url: str, tool_timeout_s: float, base_url: str | None = None) -> str:
    """config.toml for one run: the autolab MCP server, nothing of Codex's own tools."""
    lines = [
        "# Written by pytest-autolab for one task run.",
        f"approval_policy = {_toml('never')}",
        f"sandbox_mode = {_toml('read-only')}",
    ]
    if base_url:
        lines += [
            f"model_provider = {_toml('autolab-endpoint')}",
            "",
            "[model_providers.autolab-endpoint]",
            f"name = {_toml('pytest-autolab endpoint')}",
            f"base_url = {_toml(base_url)}",
            f"env_key = {_toml('OPENAI_API_KEY')}",
            f"wire_api = {_toml('responses')}",
        ]
    lines += [
        "",
        "[features]",
        "shell_tool = false",
        "web_search_request = false",
        "view_image_tool = false",
        "rmcp_client = true",
        "",
        f"[mcp_servers.{SERVER_NAME}]",
        f"url = {_toml(server_url)}",
        f"bearer_token_env_var = {_toml(TOKEN_VARIABLE)}",
        "startup_timeout_sec = 30",
        f"tool_timeout_sec = {int(tool_timeout_s)}",
    ]
    return "\n".join(lines) + "\n"


class CodexAgent(CLIAgent):
    """Codex CLI ``exec --json``, the lab tools over MCP."""

    name = "codex"
    product = "Codex"
    install = "npm install -g @openai/codex"
    stream_file = "codex.jsonl"

    def __init__(
        self,
        *,
        executable: str = "codex",
        model: str | None = None,
        reasoning_effort: str | None = None,
        base_url: str | None = None,
        auth_json: str | None = None,
        extra_args: str = "",
        input_cost_per_mtok: str | float | None = None,
        output_cost_per_mtok: str | float | None = None,
    ) -> None:
        super().__init__(executable)
        self.model = model or None
        self.reasoning_effort = reasoning_effort or None
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.extra_args = shlex.split(extra_args)
        self.prices = (
            parse_numeric_option("codex", "input_cost_per_mtok", input_cost_per_mtok, float),
            parse_numeric_option("codex", "output_cost_per_mtok", output_cost_per_mtok, float),
        )
        self.api_key = os.environ.get("OPENAI_API_KEY") or os.environ.get("CODEX_API_KEY") or None
        self.auth_json: Path | None = None
        if self.api_key is None:
            home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
            login = Path(auth_json).expanduser() if auth_json else home / "auth.json"
            if login.is_file():
                self.auth_json = login
        if self.api_key is None and self.auth_json is None:
            raise AgentError(
                "Codex needs credentials: set OPENAI_API_KEY (or CODEX_API_KEY), or log in with "
                "`codex login` (or name its auth.json with --autolab-agent-option auth_json=PATH)"
            )

    def command(
        self, prompt: str, *, server_url: str, home: Path, workdir: Path, ctx: AgentContext
    ) -> list[str]:
        argv = [
            self.executable, "exec", "--json", "--skip-git-repo-check",
            "--cd", str(workdir), "--sandbox", "read-only",
        ]  # fmt: skip
        if self.model:
            argv += ["--model", self.model]
        if self.reasoning_effort:
            argv += ["-c", f"model_reasoning_effort={_toml(self.reasoning_effort)}"]
        return [*argv, *self.extra_args, "--", prompt]

    def environment(
        self, *, server_token: str, server_url: str, home: Path, ctx: AgentContext
    ) -> dict[str, str]:
        codex_home = home / "codex-home"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            codex_config(
                server_url=server_url, tool_timeout_s=ctx.budget.time_s + 120, base_url=self.base_url
            ),
            encoding="utf-8",
        )
        auth = codex_home / "auth.json"
        if self.api_key is not None:
            auth.write_text(json.dumps({"OPENAI_API_KEY": self.api_key}), encoding="utf-8")
        elif self.auth_json is not None:
            shutil.copyfile(self.auth_json, auth)
        auth.chmod(0o600)
        return {**os.environ, "CODEX_HOME": str(codex_home), TOKEN_VARIABLE: server_token}

    def parser(self) -> CodexStream:
        return CodexStream(prices=self.prices)

    def after(self, *, home: Path, ctx: AgentContext) -> None:
        copy_tree(home / "codex-home" / "sessions", Path(ctx.log_dir) / "codex-sessions")


class CodexStream(StreamParser):
    """``codex exec --json`` events: thread.started, turn.started/completed/failed, item.*, error."""

    def __init__(self, prices: tuple[float | None, float | None] = (None, None)) -> None:
        super().__init__()
        self.prices = prices
        self.thread_id: str | None = None
        self.turns = 0
        self.tokens = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        self.tool_calls: dict[str, int] = {}
        self.failed_tool_calls = 0
        self.last_message = ""
        self.turn_failed = False

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "thread.started":
            self.thread_id = event.get("thread_id")
        elif kind == "turn.completed":
            self.turns += 1
            usage = event.get("usage") or {}
            for ours, theirs in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                                 ("cached_tokens", "cached_input_tokens")):  # fmt: skip
                value = usage.get(theirs)
                if isinstance(value, (int, float)):
                    self.tokens[ours] += int(value)
        elif kind == "turn.failed":
            self.turns += 1
            self.turn_failed = True
            self.error = str((event.get("error") or {}).get("message") or "the turn failed")
        elif kind == "error":
            self.error = str(event.get("message") or "error")
        elif kind == "item.completed":
            item = event.get("item") or {}
            if item.get("type") == "agent_message" and item.get("text"):
                self.last_message = str(item["text"])
            elif item.get("type") == "mcp_tool_call":
                tool = str(item.get("tool") or "?")
                self.tool_calls[tool] = self.tool_calls.get(tool, 0) + 1
                if item.get("status") == "failed" or item.get("error"):
                    self.failed_tool_calls += 1
            elif item.get("type") == "error" and item.get("message"):
                self.error = str(item["message"])

    def outcome(self, *, returncode: int | None, stopped: str | None, stderr: str) -> AgentOutcome:
        cost = None
        input_price, output_price = self.prices
        if input_price is not None and output_price is not None:
            spent = self.tokens["input_tokens"] * input_price + self.tokens["output_tokens"] * output_price
            cost = round(spent / 1e6, 6)
        calls = sum(self.tool_calls.values())
        usage: dict[str, Any] = {
            "thread_id": self.thread_id,
            "turns": self.turns,
            **self.tokens,
            "cost_usd": cost,
            "tool_calls": dict(self.tool_calls),
            "failed_tool_calls": self.failed_tool_calls,
            "exit_code": returncode,
        }
        if stopped is not None:
            return AgentOutcome(message=self.last_message, stop_reason=stopped, usage=usage)
        failed = self.turn_failed or (returncode not in (0, None))
        if failed:
            what = self.error or f"Codex exited with code {returncode}"
            if calls == 0:
                tail = f"; stderr: {stderr.strip()[-800:]}" if stderr.strip() else ""
                raise AgentError(f"Codex failed: {what}{tail}")
            return AgentOutcome(message=self.last_message or what, stop_reason="error", usage=usage)
        return AgentOutcome(message=self.last_message, stop_reason="done", usage=usage)
