"""An MCP server that exposes the lab tools of one task run to a CLI agent.

The harness starts it before the agent CLI and stops it afterwards. It serves
MCP's streamable HTTP transport on 127.0.0.1 at a random port, in a thread of
the harness process, so every call lands in the run's own ``LabTools`` (the
budget, the ledger, the sandbox). Each server has a random bearer token: other
local processes cannot drive the run. The CLI reaches the server from the
harness side, so the sandbox itself can stay offline::

    with LabServer(tools, journal=log_dir / "tool_calls.jsonl") as server:
        server.url        # http://127.0.0.1:41234/mcp
        server.headers    # {"Authorization": "Bearer ..."}
        ...run the CLI with an MCP config naming that URL and header...

Tools are the ones of ``TOOL_SPECS`` (bash, read_file, write_file, evaluate,
status); a malformed call or a call after the deadline comes back as a tool
error the model can read. Every call is journaled (one JSON line) so that CLI
runs have a harness-side trajectory too.

Needs the ``mcp`` package (``pip install 'pytest-autolab[agents]'``).
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..tools import TOOL_SPECS, BudgetExhausted, LabTools, ToolCallError
from ._protocol import AgentError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["SERVER_NAME", "LabServer"]

#: The server's name: CLI agents see the tools as ``mcp__autolab__bash`` (Claude Code) and the like.
SERVER_NAME = "autolab"
#: Seconds to wait for the server to answer before giving up on starting it.
START_TIMEOUT_S = 20.0
#: What the journal keeps of each argument value and each result.
JOURNAL_LIMIT = 2000


def _import_mcp() -> Any:
    try:
        import anyio.to_thread
        import mcp_types
        import uvicorn
        from mcp.server.lowlevel import Server
    except ImportError as exc:
        raise AgentError(
            f"the MCP server needs the 'mcp' package ({exc}): pip install 'pytest-autolab[agents]' "
            "(or pip install mcp)"
        ) from exc
    return anyio.to_thread, mcp_types, uvicorn, Server


class _BearerAuth:
    """ASGI middleware: only requests with the server's bearer token get through."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "unauthorized: this MCP server needs its bearer token"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class LabServer:
    """Serves one run's LabTools over MCP (streamable HTTP, 127.0.0.1, bearer token)."""

    def __init__(self, tools: LabTools, *, journal: Path | None = None) -> None:
        self.tools = tools
        self.journal = journal
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._journal_lock = threading.Lock()
        #: Tool calls served, by tool name.
        self.calls: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- the MCP side ------------------------------------------------------------------------

    def _build_app(self) -> Any:
        to_thread, types, _, Server = _import_mcp()
        tool_list = [
            types.Tool(name=spec["name"], description=spec["description"], input_schema=spec["parameters"])
            for spec in TOOL_SPECS
        ]

        async def list_tools(ctx: Any, params: Any) -> Any:
            return types.ListToolsResult(tools=tool_list)

        async def call_tool(ctx: Any, params: Any) -> Any:
            text, is_error = await to_thread.run_sync(self.call, params.name, params.arguments or {})
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text)], is_error=is_error
            )

        server = Server(
            SERVER_NAME,
            instructions="The lab tools of one pytest-autolab task run: "
            + ", ".join(s["name"] for s in TOOL_SPECS),
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )
        app = server.streamable_http_app(stateless_http=True, json_response=True, host="127.0.0.1")
        return _BearerAuth(app, self.token)

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """One tool call: (observation, is_error). Runs in a worker thread."""
        started = time.monotonic()
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            text, is_error = self.tools.call(name, arguments), False
        except ToolCallError as exc:
            text, is_error = f"error: {exc}", True
        except BudgetExhausted as exc:
            text, is_error = f"error: {exc}", True
        except Exception as exc:  # the model gets the error; the run goes on
            text, is_error = f"error: the tool failed: {type(exc).__name__}: {exc}", True
        self._journal(name, arguments, text, is_error, time.monotonic() - started)
        return text, is_error

    def _journal(
        self, name: str, arguments: dict[str, Any], text: str, is_error: bool, seconds: float
    ) -> None:
        if self.journal is None:
            return
        line = {
            "t_s": round(self.tools.budget.elapsed_s(), 3),
            "tool": name,
            "arguments": {k: v[:JOURNAL_LIMIT] if isinstance(v, str) else v for k, v in arguments.items()},
            "is_error": is_error,
            "seconds": round(seconds, 3),
            "result": text[:JOURNAL_LIMIT],
        }
        with self._journal_lock:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> LabServer:
        """Start serving in a background thread; returns once the server accepts connections."""
        _, _, uvicorn, _ = _import_mcp()
        app = self._build_app()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the harness's logging alone
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="autolab-mcp", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise AgentError(f"the autolab MCP server did not start on 127.0.0.1:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
