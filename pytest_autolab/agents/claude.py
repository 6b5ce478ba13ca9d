"""The ``claude`` agent: Claude Code, headless, with the lab tools as its only tools.

    pytest tasks/ --autolab-agent=claude [--autolab-agent-option model=claude-sonnet-4-5]

Needs the CLI (``pip install 'pytest-autolab[claude]'``: the claude-agent-sdk wheel
bundles it; or ``claude`` on PATH) and a key in the environment (ANTHROPIC_API_KEY,
or ANTHROPIC_AUTH_TOKEN / CLAUDE_CODE_OAUTH_TOKEN, or Bedrock/Vertex settings).
The command line (checked against ``claude --help`` of 2.1.332)::

    claude -p --output-format stream-json --verbose
      --mcp-config <tmp>/mcp.json --strict-mcp-config     only the autolab MCP server
      --tools ""                                          no built-in tool at all (an allow-list)
      --allowedTools mcp__autolab                         the lab tools need no permission prompt
      --setting-sources ""                                no settings or CLAUDE.md from the host
      --disable-slash-commands                            no skills
      --max-turns 200 [--model M] [--max-budget-usd X] [--permission-mode P] [extra args]
      -- <instruction + how the run works>

run in an empty temporary directory with stdin closed, with a fresh
CLAUDE_CONFIG_DIR and TMPDIR per run (the user's settings, memory, MCP servers
and other runs stay out), CLAUDE_CODE_DISABLE_CLAUDE_MDS=1, and
CLAUDE_CODE_MAX_RETRIES bounded. Options: ``executable``, ``model``, ``base_url`` (ANTHROPIC_BASE_URL: a
gateway, a proxy, a test server), ``max_turns``, ``max_budget_usd``,
``max_retries``, ``permission_mode``, ``config_dir`` (use this config folder, e.g.
a logged-in one, instead of a fresh one), ``extra_args`` (split like a shell).

From the stream (``agent/claude.jsonl``) the result gets turns, tokens and cost
(the ``result`` line's ``modelUsage``, which counts every request) and the final
message; if the process was stopped before its ``result`` line, turns are counted
and tokens summed from the assistant messages, with the output counts taken from
the session transcript (the stream's are placeholders written before the reply).
A refused key (an ``api_retry`` event with status 401 or 403) stops the CLI at once.
"""

from __future__ import annotations

import json
import os
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

from ._cli import CLIAgent, StreamParser, copy_tree
from ._protocol import AgentContext, AgentError, AgentOutcome
from ._registry import parse_numeric_option
from .mcp_server import SERVER_NAME

__all__ = ["FLAGS", "ClaudeAgent", "ClaudeStream"]

#: Every flag the adapter may pass (tests/test_claude_real.py finds each in the real
#: ``claude --help``).
FLAGS = (
    "-p", "--output-format", "--verbose", "--mcp-config", "--strict-mcp-config", "--tools",
    "--allowedTools", "--setting-sources", "--disable-slash-commands", "--max-turns", "--model",
    "--max-budget-usd", "--permission-mode",
)  # fmt: skip

#: HTTP statuses no retry mends: the CLI is stopped on the first (issue 14: a bad key
#: cost three minutes of retries per task).
FATAL_STATUSES = (401, 403)

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
    install = "pip install 'pytest-autolab[claude]'"
    stream_file = "claude.jsonl"
    command_name = "claude"
    package = "claude_agent_sdk"
    bundled = "_bundled/claude"

    def __init__(
        self,
        *,
        executable: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        max_turns: str | int = 200,
        max_budget_usd: str | float | None = None,
        max_retries: str | int = 3,
        permission_mode: str | None = None,
        config_dir: str | None = None,
        extra_args: str = "",
    ) -> None:
        super().__init__(executable or None)
        self.model = model or None
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.max_turns = parse_numeric_option("claude", "max_turns", max_turns, int)
        self.max_budget_usd = parse_numeric_option("claude", "max_budget_usd", max_budget_usd, float)
        self.max_retries = parse_numeric_option("claude", "max_retries", max_retries, int)
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
            # An allow-list, not a deny-list that ages: 2.1 added ListAgents, Workflow,
            # ToolSearch ... which a --disallowedTools list written earlier left on (issue 14).
            "--tools", "",
            "--allowedTools", f"mcp__{SERVER_NAME}",
            "--setting-sources", "",
            "--disable-slash-commands",
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
            "CLAUDE_CODE_DISABLE_CLAUDE_MDS": "1",  # no CLAUDE.md of any folder above the cwd
            "DISABLE_AUTOUPDATER": "1",
            "MCP_TIMEOUT": "30000",  # ms for the server to answer at start-up
            "MCP_TOOL_TIMEOUT": str(tool_timeout_ms),  # an evaluate() may take minutes
        }
        # Its own temporary folder: the CLI keeps the sockets through which sessions find
        # each other (ListAgents, SendMessage) under TMPDIR/cc-socks.
        private_tmp = home / "tmp"
        private_tmp.mkdir(exist_ok=True)
        env["TMPDIR"] = str(private_tmp)
        if self.max_retries is not None:
            env["CLAUDE_CODE_MAX_RETRIES"] = str(self.max_retries)
        if self.base_url:
            env["ANTHROPIC_BASE_URL"] = self.base_url
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # Claude Code refuses some permission modes as root otherwise
        return env

    def settings_note(self) -> dict[str, Any]:
        if not self.base_url:
            return {}
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.username or parts.password:  # a key in the URL is never written
            parts = parts._replace(
                netloc=f"<redacted>@{parts.hostname}{f':{parts.port}' if parts.port else ''}"
            )
        return {"base_url": urllib.parse.urlunsplit(parts)}

    def parser(self) -> ClaudeStream:
        return ClaudeStream(self.config_dir)

    def after(self, *, home: Path, ctx: AgentContext) -> None:
        if self.config_dir is None:
            copy_tree(home / "claude-config" / "projects", Path(ctx.log_dir) / "claude-sessions")


class ClaudeStream(StreamParser):
    """Claude Code's stream-json: ``system`` (``init``, ``api_retry`` ...), ``assistant`` and
    ``user`` messages, ``result``."""

    def __init__(self, config_dir: Path | None = None) -> None:
        super().__init__()
        #: The CLI's config folder, where its session transcript is (None: the run's own).
        self.config_dir = config_dir
        self.init: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        #: Usage per assistant message id (a message's blocks come as several events).
        self.message_usage: dict[str, dict[str, Any]] = {}
        #: Final usage per message id, from the session transcript (see ``collect``).
        self.transcript_usage: dict[str, dict[str, Any]] = {}
        self.tool_uses = 0
        self.last_text = ""
        self.retries = 0

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            self.init = event
        elif kind == "system" and event.get("subtype") == "api_retry":
            self.retries += 1
            status = event.get("error_status")
            if status in FATAL_STATUSES:
                self.fatal = (
                    f"the model API answered HTTP {status} ({event.get('error') or 'refused'}): check the "
                    "key (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN) and the endpoint (base_url)"
                )
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

    def collect(self, home: Path) -> None:
        # The stream writes each assistant message before its last usage arrives (output
        # tokens 1-3); the transcript has the final counts (issue 14). Only needed without
        # a result line.
        session = (self.init or {}).get("session_id")
        if self.result is not None or not session:
            return
        projects = (self.config_dir or home / "claude-config") / "projects"
        for path in projects.glob(f"*/{session}.jsonl"):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                message = entry.get("message") if isinstance(entry, dict) else None
                if isinstance(message, dict) and isinstance(message.get("usage"), dict) and message.get("id"):
                    self.transcript_usage[message["id"]] = message["usage"]

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
            "tools_offered": (self.init or {}).get("tools"),
            "tool_uses": self.tool_uses,
            "api_retries": self.retries,
            "exit_code": returncode,
        }
        result = self.result
        if result is not None:
            usage.update(
                # Model replies. The CLI's num_turns counts tool uses too in 2.1 (14 for 7
                # replies that used 13 tools): kept as it is, beside.
                turns=len(self.message_usage) or result.get("num_turns"),
                num_turns=result.get("num_turns"),
                cost_usd=result.get("total_cost_usd"),
                duration_ms=result.get("duration_ms"),
                subtype=result.get("subtype"),
                **_result_tokens(result),
            )
            subtype = str(result.get("subtype") or "")
            stop = STOP_REASONS.get(subtype, "error")
            if result.get("is_error") and stop == "done":
                stop = "error"
            errors = [str(e) for e in result.get("errors") or [] if e]
            if errors:
                usage["errors"] = errors
            # An error ending says why in ``errors`` ("Reached maximum budget"): that, not the
            # last thing the model said, is the message (issue 14).
            message = str(result.get("result") or "; ".join(errors) or self.last_text or "")
            if stop == "error" and self.tool_uses == 0:
                raise AgentError(
                    _failure("Claude Code failed", message or subtype, usage["mcp_status"], stderr)
                )
            return AgentOutcome(message=message, stop_reason=stop, usage=usage)
        # No result line: stopped by the harness, or crashed.
        final = {key: {**u, **self.transcript_usage.get(key, {})} for key, u in self.message_usage.items()}
        totals = [_tokens(u) for u in final.values()]
        usage.update(
            turns=len(self.message_usage),
            cost_usd=None,
            **{
                key: sum(t[key] for t in totals) for key in ("input_tokens", "output_tokens", "cached_tokens")
            },
        )
        # Without the transcript, the output counts are the stream's placeholders.
        usage["output_tokens_exact"] = set(self.message_usage) <= set(self.transcript_usage)
        if stopped is not None:
            return AgentOutcome(message=self.last_text, stop_reason=stopped, usage=usage)
        what = f"Claude Code exited with code {returncode} before its result line"
        if self.tool_uses == 0:
            raise AgentError(_failure(what, self.last_text, usage["mcp_status"], stderr))
        return AgentOutcome(message=f"{what}: {stderr.strip()[-300:]}", stop_reason="crashed", usage=usage)


def _result_tokens(result: dict[str, Any]) -> dict[str, int]:
    """The result line's tokens: ``modelUsage`` (every request of every model, the last one
    of an error ending included) where present, else ``usage``."""
    per_model = result.get("modelUsage")
    if isinstance(per_model, dict) and per_model:
        totals = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        for figures in per_model.values():
            if not isinstance(figures, dict):
                continue
            tokens = _tokens(
                {
                    "input_tokens": figures.get("inputTokens"),
                    "cache_creation_input_tokens": figures.get("cacheCreationInputTokens"),
                    "cache_read_input_tokens": figures.get("cacheReadInputTokens"),
                    "output_tokens": figures.get("outputTokens"),
                }
            )
            for key in totals:
                totals[key] += tokens[key]
        return totals
    return _tokens(result.get("usage") or {})


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
