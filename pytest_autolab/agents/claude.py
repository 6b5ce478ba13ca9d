"""The ``claude`` agent: Claude Code, headless, with the lab tools as its only tools.

    pytest tasks/ --autolab-agent=claude [--autolab-agent-option model=claude-sonnet-4-5]

Needs the CLI (``npm install -g @anthropic-ai/claude-code``) and a key in the
environment (ANTHROPIC_API_KEY, or ANTHROPIC_AUTH_TOKEN / CLAUDE_CODE_OAUTH_TOKEN,
or Bedrock/Vertex settings). The command line::

    claude -p --output-format stream-json --verbose
      --mcp-config <tmp>/mcp.json --strict-mcp-config     only the autolab MCP server
      --allowedTools mcp__autolab                         its tools need no permission prompt
      --disallowedTools Bash,Edit,Read,...                every built-in tool off
      --max-turns 200 [--model M] [--max-budget-usd X] [--permission-mode P] [extra args]
      -- <instruction + how the run works>

run in an empty temporary directory with stdin closed, and with a fresh
CLAUDE_CONFIG_DIR so that the user's settings, memory and MCP servers stay out
of the benchmark. Options: ``executable``, ``model``, ``max_turns``,
``max_budget_usd``, ``permission_mode``, ``config_dir`` (use this config folder,
e.g. a logged-in one, instead of a fresh one), ``extra_args`` (split like a shell).

From the stream (``agent/claude.jsonl``) the result gets turns, tokens, cost
(``total_cost_usd``) and the final message; if the process was stopped before
its ``result`` line, turns and tokens are summed from the assistant messages.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from ._cli import CLIAgent, StreamParser, copy_tree
from ._protocol import AgentContext, AgentError, AgentOutcome
from ._registry import parse_numeric_option
from .mcp_server import SERVER_NAME

__all__ = ["DISALLOWED_TOOLS", "ClaudeAgent", "ClaudeStream"]

#: Claude Code's built-in tools, all turned off: the agent works through the lab tools only.
DISALLOWED_TOOLS = (
    "Bash", "BashOutput", "KillShell", "KillBash", "Edit", "MultiEdit", "Write", "Read", "Glob",
    "Grep", "LS", "NotebookEdit", "NotebookRead", "WebFetch", "WebSearch", "Task", "Agent",
    "TodoWrite", "TodoRead", "SlashCommand", "Skill", "ExitPlanMode", "ListMcpResourcesTool",
    "ReadMcpResourceTool",
)  # fmt: skip

#: Environment variables any one of which lets Claude Code authenticate without a login.
CREDENTIALS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)

#: result subtypes -> stop reasons.
STOP_REASONS = {
    "success": "done",
    "error_max_turns": "max_turns",
    "error_max_budget_usd": "max_cost",
    "error_during_execution": "error",
}


class ClaudeAgent(CLIAgent):
    """Claude Code CLI in print mode, stream-json output, the lab tools over MCP."""

    name = "claude"
    product = "Claude Code"
    install = "npm install -g @anthropic-ai/claude-code"
    stream_file = "claude.jsonl"

    def __init__(
        self,
        *,
        executable: str = "claude",
        model: str | None = None,
        max_turns: str | int = 200,
        max_budget_usd: str | float | None = None,
        permission_mode: str | None = None,
        config_dir: str | None = None,
        extra_args: str = "",
    ) -> None:
        super().__init__(executable)
        self.model = model or None
        self.max_turns = parse_numeric_option("claude", "max_turns", max_turns, int)
        self.max_budget_usd = parse_numeric_option("claude", "max_budget_usd", max_budget_usd, float)
        self.permission_mode = permission_mode or None
        self.config_dir = Path(config_dir).expanduser() if config_dir else None
        self.extra_args = shlex.split(extra_args)
        if self.config_dir is None and not any(os.environ.get(k) for k in CREDENTIALS):
            raise AgentError(
                "Claude Code needs credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN, or "
                "CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`), or name a logged-in config folder "
                "with --autolab-agent-option config_dir=~/.claude"
            )

    def command(
        self, prompt: str, *, server_url: str, home: Path, workdir: Path, ctx: AgentContext
    ) -> list[str]:
        argv = [
            self.executable, "-p",
            "--output-format", "stream-json", "--verbose",
            "--mcp-config", str(home / "mcp.json"), "--strict-mcp-config",
            "--allowedTools", f"mcp__{SERVER_NAME}",
            "--disallowedTools", ",".join(DISALLOWED_TOOLS),
        ]  # fmt: skip
        if self.max_turns is not None:
            argv += ["--max-turns", str(self.max_turns)]
        if self.model:
            argv += ["--model", self.model]
        if self.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{self.max_budget_usd:g}"]
        if self.permission_mode:
            argv += ["--permission-mode", self.permission_mode]
        return [*argv, *self.extra_args, "--", prompt]

    def environment(
        self, *, server_token: str, server_url: str, home: Path, ctx: AgentContext
    ) -> dict[str, str]:
        config = {
            "mcpServers": {
                SERVER_NAME: {
                    "type": "http",
                    "url": server_url,
                    "headers": {"Authorization": f"Bearer {server_token}"},
                }
            }
        }
        path = home / "mcp.json"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        path.chmod(0o600)
        config_dir = self.config_dir or home / "claude-config"
        config_dir.mkdir(parents=True, exist_ok=True)
        tool_timeout_ms = int((ctx.budget.time_s + 120) * 1000)
        env = {
            **os.environ,
            "CLAUDE_CONFIG_DIR": str(config_dir),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "MCP_TIMEOUT": "30000",  # ms for the server to answer at start-up
            "MCP_TOOL_TIMEOUT": str(tool_timeout_ms),  # an evaluate() may take minutes
        }
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # Claude Code refuses some permission modes as root otherwise
        return env

    def parser(self) -> ClaudeStream:
        return ClaudeStream()

    def after(self, *, home: Path, ctx: AgentContext) -> None:
        if self.config_dir is None:
            copy_tree(home / "claude-config" / "projects", Path(ctx.log_dir) / "claude-sessions")


class ClaudeStream(StreamParser):
    """Claude Code's stream-json: ``system``/``init``, ``assistant`` and ``user`` messages, ``result``."""

    def __init__(self) -> None:
        super().__init__()
        self.init: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        #: Usage per assistant message id (a message's blocks come as several events).
        self.message_usage: dict[str, dict[str, Any]] = {}
        self.tool_uses = 0
        self.last_text = ""

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            self.init = event
        elif kind == "assistant":
            message = event.get("message") or {}
            key = message.get("id") or f"message-{len(self.message_usage)}"
            if isinstance(message.get("usage"), dict):
                self.message_usage[key] = message["usage"]
            for block in message.get("content") or []:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use":
                    self.tool_uses += 1
                elif block.get("type") == "text" and block.get("text"):
                    self.last_text = block["text"]
        elif kind == "result":
            self.result = event

    def mcp_status(self) -> str | None:
        for server in (self.init or {}).get("mcp_servers") or []:
            if isinstance(server, dict) and server.get("name") == SERVER_NAME:
                return str(server.get("status"))
        return None

    def outcome(self, *, returncode: int | None, stopped: str | None, stderr: str) -> AgentOutcome:
        usage: dict[str, Any] = {
            "model": (self.init or {}).get("model"),
            "session_id": (self.init or {}).get("session_id"),
            "mcp_status": self.mcp_status(),
            "tool_uses": self.tool_uses,
            "exit_code": returncode,
        }
        result = self.result
        if result is not None:
            tokens = _tokens(result.get("usage") or {})
            usage.update(
                turns=result.get("num_turns"),
                cost_usd=result.get("total_cost_usd"),
                duration_ms=result.get("duration_ms"),
                subtype=result.get("subtype"),
                **tokens,
            )
            subtype = str(result.get("subtype") or "")
            stop = STOP_REASONS.get(subtype, "error")
            if result.get("is_error") and stop == "done":
                stop = "error"
            message = str(result.get("result") or self.last_text or "")
            if stop == "error" and self.tool_uses == 0:
                raise AgentError(
                    _failure("Claude Code failed", message or subtype, usage["mcp_status"], stderr)
                )
            return AgentOutcome(message=message, stop_reason=stop, usage=usage)
        # No result line: stopped by the harness, or crashed.
        totals = [_tokens(u) for u in self.message_usage.values()]
        usage.update(
            turns=len(self.message_usage),
            cost_usd=None,
            **{
                key: sum(t[key] for t in totals) for key in ("input_tokens", "output_tokens", "cached_tokens")
            },
        )
        if stopped is not None:
            return AgentOutcome(message=self.last_text, stop_reason=stopped, usage=usage)
        what = f"Claude Code exited with code {returncode} before its result line"
        if self.tool_uses == 0:
            raise AgentError(_failure(what, self.last_text, usage["mcp_status"], stderr))
        return AgentOutcome(message=f"{what}: {stderr.strip()[-300:]}", stop_reason="crashed", usage=usage)


def _tokens(usage: dict[str, Any]) -> dict[str, int]:
    """Anthropic usage -> input (all prompt tokens, cached ones included), output, cached."""

    def num(key: str) -> int:
        value = usage.get(key)
        return int(value) if isinstance(value, (int, float)) else 0

    cached = num("cache_read_input_tokens")
    prompt = num("input_tokens") + num("cache_creation_input_tokens") + cached
    return {"input_tokens": prompt, "output_tokens": num("output_tokens"), "cached_tokens": cached}


def _failure(what: str, message: str, mcp_status: str | None, stderr: str) -> str:
    parts = [what]
    if message:
        parts.append(message.strip()[:500])
    if mcp_status not in (None, "connected"):
        parts.append(f"the autolab MCP server was {mcp_status}")
    if stderr.strip():
        parts.append(f"stderr: {stderr.strip()[-800:]}")
    return "; ".join(parts)
