"""A stand-in for the ``claude`` and ``codex`` CLIs, for the adapter tests.

    python fake_cli.py claude|codex ARGS...

It finds the autolab MCP server the way the real CLI would (claude: the
``--mcp-config`` file; codex: ``$CODEX_HOME/config.toml`` and the bearer token
variable it names), drives the lab tools with the MCP client SDK over the real
transport, and prints the documented event stream of the CLI it plays.

FAKE_CLI_MODE: ``work`` (write value.txt = 10, evaluate, finish), ``hang``
(one tool call, then wait to be killed), ``fail`` (an API error, exit 1),
``refused`` (claude: one tool call, then the API refuses the key, and it retries).
FAKE_CLI_RECORD: a file to write the argv, cwd, stdin and environment into.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from typing import Any

RECORDED_ENV = (
    "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_AUTOUPDATER", "MCP_TIMEOUT",
    "MCP_TOOL_TIMEOUT", "IS_SANDBOX", "CODEX_HOME", "AUTOLAB_MCP_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
)  # fmt: skip


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def server_of(flavour: str, args: list[str]) -> tuple[str, dict[str, str]]:
    if flavour == "claude":
        with open(args[args.index("--mcp-config") + 1]) as handle:
            entry = json.load(handle)["mcpServers"]["autolab"]
        return entry["url"], entry["headers"]
    with open(os.path.join(os.environ["CODEX_HOME"], "config.toml"), "rb") as handle:
        entry = tomllib.load(handle)["mcp_servers"]["autolab"]
    return entry["url"], {"Authorization": "Bearer " + os.environ[entry["bearer_token_env_var"]]}


def call_tools(url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def main() -> list[str]:
        texts = []
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["bash", "read_file", "write_file", "evaluate", "status"], names
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                texts.append(getattr(result.content[0], "text", ""))
        return texts

    return anyio.run(main)


def claude(mode: str, url: str, headers: dict[str, str]) -> int:
    emit({"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-fake",
          "tools": ["mcp__autolab__bash", "mcp__autolab__evaluate"],
          "mcp_servers": [{"name": "autolab", "status": "connected"}]})  # fmt: skip
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "output_tokens": 20,
    }
    if mode == "fail":
        emit({"type": "result", "subtype": "success", "is_error": True, "num_turns": 1, "session_id": "s-1",
              "result": "Invalid API key · Fix external API key", "total_cost_usd": 0, "usage": {}})  # fmt: skip
        return 1
    calls = [("write_file", {"path": "value.txt", "content": "10\n"})]
    if mode == "work":
        calls.append(("evaluate", {}))
    texts = call_tools(url, headers, calls)
    for i, ((name, arguments), text) in enumerate(zip(calls, texts, strict=True)):
        emit({"type": "assistant", "session_id": "s-1", "message": {
            "id": f"msg_{i}", "role": "assistant", "model": "claude-fake", "usage": usage,
            "content": [{"type": "tool_use", "id": f"toolu_{i}", "name": f"mcp__autolab__{name}", "input": arguments}]}})  # fmt: skip
        emit({"type": "user", "session_id": "s-1", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": [{"type": "text", "text": text}]}]}})  # fmt: skip
    if mode in ("hang", "refused"):
        if mode == "refused":
            emit({"type": "system", "subtype": "api_retry", "attempt": 1, "error_status": 401,
                  "error": "authentication_failed"})  # fmt: skip
        time.sleep(600)
        return 0
    emit({"type": "assistant", "session_id": "s-1", "message": {
        "id": "msg_final", "role": "assistant", "model": "claude-fake", "usage": usage,
        "content": [{"type": "text", "text": "value.txt now holds 10."}]}})  # fmt: skip
    emit({"type": "result", "subtype": "success", "is_error": False, "num_turns": 3, "duration_ms": 2100,
          "session_id": "s-1", "result": "value.txt now holds 10.", "total_cost_usd": 0.0123,
          "usage": {"input_tokens": 30, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 3000,
                    "output_tokens": 60}})  # fmt: skip
    return 0


def codex(mode: str, url: str, headers: dict[str, str]) -> int:
    emit({"type": "thread.started", "thread_id": "t-1"})
    emit({"type": "turn.started"})
    if mode == "fail":
        emit({"type": "error", "message": "401 Unauthorized: Incorrect API key provided"})
        emit({"type": "turn.failed", "error": {"message": "401 Unauthorized: Incorrect API key provided"}})
        return 1
    calls = [("write_file", {"path": "value.txt", "content": "10\n"})]
    if mode == "work":
        calls.append(("evaluate", {}))
    texts = call_tools(url, headers, calls)
    for i, ((name, arguments), text) in enumerate(zip(calls, texts, strict=True)):
        item = {
            "id": f"item_{i}",
            "type": "mcp_tool_call",
            "server": "autolab",
            "tool": name,
            "arguments": arguments,
        }
        emit({"type": "item.started", "item": {**item, "status": "in_progress"}})
        emit({"type": "item.completed", "item": {**item, "status": "completed",
                                                  "result": {"content": [{"type": "text", "text": text}]}}})  # fmt: skip
    if mode == "hang":
        time.sleep(600)
        return 0
    emit(
        {
            "type": "item.completed",
            "item": {"id": "item_9", "type": "agent_message", "text": "value.txt now holds 10."},
        }
    )
    emit(
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 2000, "cached_input_tokens": 1500, "output_tokens": 100},
        }
    )
    return 0


def main() -> int:
    flavour, args = sys.argv[1], sys.argv[2:]
    if args == ["--version"]:
        print(f"0.0.0 (fake {flavour})")
        return 0
    if args == ["debug", "models", "--bundled"]:  # codex's model catalog
        print(
            json.dumps({"models": [{"slug": "fake", "tool_mode": "code_mode_only", "shell_type": "local"}]})
        )
        return 0
    record = os.environ.get("FAKE_CLI_RECORD")
    if record:
        with open(record, "w") as handle:
            json.dump({"argv": args, "cwd": os.getcwd(), "cwd_entries": os.listdir("."), "stdin": sys.stdin.read(),
                       "env": {k: os.environ.get(k) for k in RECORDED_ENV}}, handle)  # fmt: skip
    mode = os.environ.get("FAKE_CLI_MODE", "work")
    url, headers = server_of(flavour, args)
    return claude(mode, url, headers) if flavour == "claude" else codex(mode, url, headers)


if __name__ == "__main__":
    sys.exit(main())
