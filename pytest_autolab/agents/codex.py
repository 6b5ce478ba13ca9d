"""The ``codex`` agent: the Codex CLI, headless, with the lab tools as its only tools.

    pip install 'pytest-autolab[codex]'        # the pinned CLI (openai-codex-cli-bin)
    pytest tasks/ --autolab-agent=codex [--autolab-agent-option model=gpt-5.5]

The CLI: ``executable=`` if given, else ``codex`` on PATH, else the one the ``[codex]``
extra installs (the ``codex_cli_bin`` package); its path and version go to
``agent/command.json`` and ``result.json``. A key: OPENAI_API_KEY (or CODEX_API_KEY), or a
``codex login`` (its auth.json is copied). The command line::

    codex exec --json --strict-config --skip-git-repo-check --cd <empty tmp dir>
      --sandbox read-only [--model M] [-c model_reasoning_effort=E] [extra args] -- <prompt>

with stdin closed and CODEX_HOME a temporary folder holding::

    config.toml   see ``codex_config``: the autolab MCP server (its tools approved), every
                  built-in tool Codex lets a config turn off turned off, no AGENTS.md
    models.json   the CLI's own model catalog (``codex debug models --bundled``) with the
                  per-model settings that add built-in tools cleared (``CATALOG_OVERRIDES``)
    auth.json     the key (deleted with the folder after the run)

``--strict-config`` makes a config key this version does not know an error, not a silent no-op.

Options: ``executable``, ``model``, ``reasoning_effort``, ``base_url`` (or OPENAI_BASE_URL: a
Responses-API endpoint, written as a model provider), ``auth_json`` (a login's auth.json to
use), ``extra_args`` (split like a shell), ``input_cost_per_mtok`` / ``output_cost_per_mtok``
(Codex reports no cost).

From the JSON events (``agent/codex.jsonl``) the result gets the final message and the calls
Codex refused or failed; from its session files (``agent/codex-sessions/``) the model
requests and tokens, also when the CLI was killed; from the MCP server the lab tool calls.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._cli import CLIAgent, StreamParser, copy_tree, find_cli
from ._protocol import AgentContext, AgentError, AgentOutcome
from ._registry import parse_numeric_option
from .mcp_server import SERVER_NAME

__all__ = ["CATALOG_OVERRIDES", "TESTED_VERSION", "CodexAgent", "CodexStream", "codex_config"]

#: The environment variable that carries the MCP server's bearer token to Codex.
TOKEN_VARIABLE = "AUTOLAB_MCP_TOKEN"
#: The CLI version this adapter was checked against (what the ``[codex]`` extra pins).
TESTED_VERSION = "0.163.0"
#: How to get the CLI, in the missing-CLI error, and the package that brings it.
INSTALL = "pip install 'pytest-autolab[codex]'"
PACKAGE = "openai-codex-cli-bin"
#: The lab tools, as the MCP server names them.
LAB_TOOLS = ("bash", "read_file", "write_file", "evaluate", "status")

#: Per-model settings of Codex's model catalog that add built-in tools, and what a run sets
#: them to (measured with 0.163.0; a key a model entry lacks is left out). Config cannot
#: turn these off: they decide, per model, the JavaScript ``exec`` tool of code mode (which
#: carries apply_patch and the MCP tools inside it), apply_patch, the shell, the sub-agent
#: tools (spawn_agent, send_message ...), the clock and tool_search (which hides MCP tools
#: until the model searches for them).
CATALOG_OVERRIDES: dict[str, Any] = {
    "tool_mode": None,
    "apply_patch_tool_type": None,
    "shell_type": "disabled",
    "multi_agent_version": None,
    "experimental_supported_tools": [],
    "supports_search_tool": False,
}


def _toml(value: Any) -> str:
    """A TOML scalar or list (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def codex_config(
    *,
    server_url: str,
    tool_timeout_s: float,
    base_url: str | None = None,
    model_catalog: Path | None = None,
) -> str:
    """config.toml for one run: the autolab MCP server, none of Codex's own tools."""
    lines = [
        "# Written by pytest-autolab for one task run.",
        f"approval_policy = {_toml('never')}",
        f"sandbox_mode = {_toml('read-only')}",
        f"web_search = {_toml('disabled')}",
        # No AGENTS.md from the folders above the working directory reaches the model.
        "project_doc_max_bytes = 0",
    ]
    if model_catalog is not None:
        lines.append(f"model_catalog_json = {_toml(str(model_catalog))}")
    if base_url:
        lines += [
            f"model_provider = {_toml('autolab-endpoint')}",
            "",
            "[model_providers.autolab-endpoint]",
            f"name = {_toml('pytest-autolab endpoint')}",
            f"base_url = {_toml(base_url)}",
            f"env_key = {_toml('OPENAI_API_KEY')}",
            f"wire_api = {_toml('responses')}",
            # A bad key or a dead endpoint fails the run in seconds, not minutes.
            "request_max_retries = 2",
            "stream_max_retries = 2",
        ]
    lines += [
        "",
        "[features]",
        "shell_tool = false",
        "view_image = false",
        "goals = false",
        "multi_agent = false",
        "sleep_tool = false",
        "",
        # The CLI's own skills (image generation, its docs ...) stay out of the prompt.
        "[skills.bundled]",
        "enabled = false",
        "",
        f"[mcp_servers.{SERVER_NAME}]",
        f"url = {_toml(server_url)}",
        f"bearer_token_env_var = {_toml(TOKEN_VARIABLE)}",
        "startup_timeout_sec = 30",
        f"tool_timeout_sec = {int(tool_timeout_s)}",
        # As shipped, approval_policy "never" refuses every MCP tool call ("requires approval").
        f"default_tools_approval_mode = {_toml('approve')}",
        # Offered as direct tools, never only inside code mode's JavaScript exec.
        f"omit_tools_from = {_toml(['code_mode'])}",
    ]
    return "\n".join(lines) + "\n"


def limited_catalog(catalog: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI's model catalog with ``CATALOG_OVERRIDES`` applied to every model."""
    models = []
    for entry in catalog.get("models") or []:
        if isinstance(entry, dict):
            entry = {**entry, **{k: v for k, v in CATALOG_OVERRIDES.items() if k in entry}}
        models.append(entry)
    return {**catalog, "models": models}


def bundled_codex() -> Path | None:
    """The CLI that the ``[codex]`` extra installed (package ``codex_cli_bin``), if any."""
    found = find_cli(None, "", package=CodexAgent.package, bundled=CodexAgent.bundled)
    return None if found is None else Path(found["path"])


class CodexAgent(CLIAgent):
    """Codex CLI ``exec --json``, the lab tools over MCP."""

    name = "codex"
    product = "Codex"
    install = INSTALL
    stream_file = "codex.jsonl"
    command_name = "codex"
    package = "codex_cli_bin"
    bundled = "bin/codex"

    def __init__(
        self,
        *,
        executable: str | None = None,
        model: str | None = None,
        reasoning_effort: str | None = None,
        base_url: str | None = None,
        auth_json: str | None = None,
        extra_args: str = "",
        input_cost_per_mtok: str | float | None = None,
        output_cost_per_mtok: str | float | None = None,
    ) -> None:
        super().__init__(executable)
        #: Where the CLI was found, in words: the option, PATH, or the [codex] extra's package.
        self.found = self.cli["found"]
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
        self._probe_lock = threading.Lock()
        self._version: str | None = None
        self._catalog: str | None = None

    # -- what the CLI is -------------------------------------------------------------------

    def version(self) -> str:
        """``codex --version``, e.g. "0.163.0" (asked once)."""
        with self._probe_lock:
            if self._version is None:
                out = self._probe(["--version"]).strip()
                found = re.search(r"\d+\.\d+\.\d+\S*", out)
                self._version = found.group(0) if found else out[:80]
            return self._version

    def model_catalog(self) -> str:
        """models.json for a run: the CLI's bundled catalog, limited (asked once)."""
        with self._probe_lock:
            if self._catalog is None:
                out = self._probe(["debug", "models", "--bundled"])
                try:
                    catalog = json.loads(out)
                    if not isinstance(catalog.get("models"), list):
                        raise ValueError("no models list")
                except (ValueError, AttributeError) as exc:
                    raise AgentError(
                        f"the {self.product} CLI ({self.executable}) printed no model catalog for "
                        f"`codex debug models --bundled` ({exc}); this adapter is tested with Codex "
                        f"{TESTED_VERSION}: {INSTALL}"
                    ) from None
                self._catalog = json.dumps(limited_catalog(catalog))
            return self._catalog

    def _probe(self, args: list[str]) -> str:
        with tempfile.TemporaryDirectory(prefix="autolab-codex-probe-") as home:
            env = {**os.environ, "CODEX_HOME": home}
            try:
                done = subprocess.run(
                    [self.executable, *args],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    env=env,
                    timeout=60,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise AgentError(
                    f"the {self.product} CLI ({self.executable}) does not start: {exc}"
                ) from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise AgentError(
                f"`{Path(self.executable).name} {' '.join(args)}` exited {done.returncode}: {tail} "
                f"(this adapter is tested with Codex {TESTED_VERSION}: {INSTALL})"
            )
        return done.stdout.decode("utf-8", "replace")

    def check(self) -> None:
        super().check()
        self.version()
        self.model_catalog()

    def describe(self) -> dict[str, Any]:
        """Which CLI a run uses and its endpoint (command.json, result.json)."""
        cli = {"path": self.executable, "found": self.found, "version": self.version()}
        return {"cli": cli, **({"base_url": self.base_url} if self.base_url else {})}

    # -- one run ---------------------------------------------------------------------------

    def command(
        self, prompt: str, *, server_url: str, home: Path, workdir: Path, ctx: AgentContext
    ) -> list[str]:
        argv = [
            self.executable, "exec", "--json", "--strict-config", "--skip-git-repo-check",
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
        catalog = codex_home / "models.json"
        catalog.write_text(self.model_catalog(), encoding="utf-8")
        (codex_home / "config.toml").write_text(
            codex_config(
                server_url=server_url,
                tool_timeout_s=ctx.budget.time_s + 120,
                base_url=self.base_url,
                model_catalog=catalog,
            ),
            encoding="utf-8",
        )
        auth = codex_home / "auth.json"
        if self.api_key is not None:
            auth.write_text(json.dumps({"OPENAI_API_KEY": self.api_key}), encoding="utf-8")
        elif self.auth_json is not None:
            shutil.copyfile(self.auth_json, auth)
        auth.chmod(0o600)
        env = {**os.environ, "CODEX_HOME": str(codex_home), TOKEN_VARIABLE: server_token}
        if self.api_key is not None and self.base_url:
            # A custom provider reads its key from env_key (OPENAI_API_KEY), never from
            # CODEX_API_KEY or auth.json: measured with 0.163.0.
            env["OPENAI_API_KEY"] = self.api_key
        helpers = Path(self.executable).resolve().parent.parent / "codex-path"
        if self.found.startswith("bundled") and helpers.is_dir():  # rg, as the package's own launcher does
            env["PATH"] = os.pathsep.join([str(helpers), env.get("PATH", "")])
        return env

    def parser(self) -> CodexStream:
        return CodexStream(prices=self.prices)

    def after(self, *, home: Path, ctx: AgentContext) -> None:
        copy_tree(home / "codex-home" / "sessions", Path(ctx.log_dir) / "codex-sessions")

    def _write_command(self, log_dir: Path, argv: list[str], env: Mapping[str, str]) -> None:
        super()._write_command(log_dir, argv, env)
        path = log_dir / "command.json"
        document = json.loads(path.read_text(encoding="utf-8"))
        for key, value in self.describe().items():
            document.setdefault(key, value)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def run(self, ctx: AgentContext) -> AgentOutcome:
        outcome = super().run(ctx)
        log_dir = Path(ctx.log_dir)
        usage = outcome.usage
        usage["cli"] = self.describe()["cli"]
        sessions = session_usage(log_dir / "codex-sessions")
        if sessions is not None:  # the session files count every model response, sub-agents' too
            usage.update(sessions)
        elif outcome.stop_reason in ("budget", "cancelled"):
            for key in ("input_tokens", "output_tokens", "cached_tokens"):
                usage[key] = None  # killed before turn.completed: unknown, not 0
        usage["cost_usd"] = _cost(usage, self.prices)
        served = _journal(log_dir / "tool_calls.jsonl")
        worked = sum(1 for line in served if not line.get("is_error"))
        if outcome.stop_reason == "done" and worked == 0:
            outcome.stop_reason = "no_lab_tools"
            usage["warning"] = (
                f"Codex ended without one lab tool call that worked ({len(served)} reached the MCP "
                f"server, all failed): the files were scored as they were left"
            )
        return outcome


def _journal(path: Path) -> list[dict[str, Any]]:
    """The MCP server's journal of lab tool calls."""
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def session_usage(folder: Path) -> dict[str, Any] | None:
    """Model responses and tokens from Codex's session files (one ``token_usage_record``
    per response, in every thread's file), or None where there are none."""
    records = 0
    tokens = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
    for path in sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict) or event.get("type") != "token_usage_record":
                continue
            usage = (event.get("payload") or {}).get("usage") or {}
            records += 1
            for ours, theirs in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                                 ("cached_tokens", "cached_input_tokens")):  # fmt: skip
                value = usage.get(theirs)
                if isinstance(value, (int, float)):
                    tokens[ours] += int(value)
    if records == 0:
        return None
    return {"turns": records, "requests": records, **tokens}


def _cost(usage: Mapping[str, Any], prices: tuple[float | None, float | None]) -> float | None:
    input_price, output_price = prices
    tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
    if input_price is None or output_price is None or tokens_in is None or tokens_out is None:
        return None
    return round(float(tokens_in * input_price + tokens_out * output_price) / 1e6, 6)


class CodexStream(StreamParser):
    """``codex exec --json`` events: thread.started, turn.started/completed/failed, item.*, error.

    Tokens here are the fallback; ``CodexAgent.run`` prefers the session files. Lab tool
    calls are counted by the MCP server; the stream tells which ones Codex refused or saw
    fail, and any other tool the model got to use (there should be none).
    """

    #: Item types that are not tool calls.
    NOT_TOOLS = frozenset({"agent_message", "reasoning", "error", "todo_list"})

    def __init__(self, prices: tuple[float | None, float | None] = (None, None)) -> None:
        super().__init__()
        self.prices = prices
        self.thread_id: str | None = None
        self.turns_completed = 0
        self.tokens = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        #: Lab tool calls as Codex reported them, and how many of them failed or were refused.
        self.lab_calls = 0
        self.failed_tool_calls = 0
        #: Why the first of them failed ("MCP tool call requires approval ...").
        self.first_failure = ""
        #: Anything else the model called (MCP resource listings, built-in tools), by name.
        self.other_tool_calls: dict[str, int] = {}
        #: Codex's warnings (unknown model, deprecated settings): ``error`` items.
        self.warnings: list[str] = []
        self.last_message = ""
        self.turn_failed = False

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "thread.started":
            self.thread_id = event.get("thread_id")
        elif kind == "turn.completed":
            self.turns_completed += 1
            usage = event.get("usage") or {}
            for ours, theirs in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                                 ("cached_tokens", "cached_input_tokens")):  # fmt: skip
                value = usage.get(theirs)
                if isinstance(value, (int, float)):
                    self.tokens[ours] += int(value)
        elif kind == "turn.failed":
            self.turn_failed = True
            self.error = str((event.get("error") or {}).get("message") or "the turn failed")
        elif kind == "error":
            self.error = str(event.get("message") or "error")
        elif kind == "item.completed":
            self._item(event.get("item") or {})

    def _item(self, item: dict[str, Any]) -> None:
        kind = str(item.get("type") or "?")
        if kind == "agent_message" and item.get("text"):
            self.last_message = str(item["text"])
        elif kind == "error" and item.get("message"):
            self.warnings.append(str(item["message"])[:500])
        elif kind == "mcp_tool_call" and item.get("server") == SERVER_NAME and item.get("tool") in LAB_TOOLS:
            self.lab_calls += 1
            if item.get("status") == "failed" or item.get("error"):
                self.failed_tool_calls += 1
                message = str((item.get("error") or {}).get("message") or "failed")
                self.first_failure = self.first_failure or message[:300]
        elif kind not in self.NOT_TOOLS:
            name = f"{item.get('server')}.{item.get('tool')}" if kind == "mcp_tool_call" else kind
            self.other_tool_calls[name] = self.other_tool_calls.get(name, 0) + 1

    def unserved_calls(self) -> str:
        if not self.failed_tool_calls:
            return ""
        return (
            f"{self.failed_tool_calls} refused or failed in Codex: {self.first_failure or 'no reason given'}"
        )

    def outcome(self, *, returncode: int | None, stopped: str | None, stderr: str) -> AgentOutcome:
        usage: dict[str, Any] = {
            "thread_id": self.thread_id,
            "turns": self.turns_completed,
            **self.tokens,
            "cost_usd": _cost(self.tokens, self.prices),
            "failed_tool_calls": self.failed_tool_calls,
            "other_tool_calls": dict(self.other_tool_calls),
            "exit_code": returncode,
        }
        if self.first_failure:
            usage["first_failure"] = self.first_failure
        if self.warnings:
            usage["cli_warnings"] = self.warnings[:5]
        if stopped is not None:
            return AgentOutcome(message=self.last_message, stop_reason=stopped, usage=usage)
        failed = self.turn_failed or (returncode not in (0, None))
        if failed:
            what = self.error or f"Codex exited with code {returncode}"
            if self.lab_calls == 0:
                # Its CODEX_HOME is under the temporary folder: a warning about that is noise.
                stderr = "\n".join(line for line in stderr.splitlines() if "create PATH aliases" not in line)
                tail = f"; stderr: {stderr.strip()[-800:]}" if stderr.strip() else ""
                raise AgentError(f"Codex failed: {what}{tail}")
            return AgentOutcome(message=self.last_message or what, stop_reason="error", usage=usage)
        return AgentOutcome(message=self.last_message, stop_reason="done", usage=usage)
