"""A scripted Anthropic Messages API server, to drive the real Claude Code CLI in tests.

A real HTTP server on 127.0.0.1 (http.server in a thread) that answers
``POST /v1/messages`` (streaming SSE when the request asks for ``stream``, one
JSON document otherwise) and records every request::

    with ScriptedAnthropic([use("mcp__autolab__read_file", path="solve.py"), text("done")]) as server:
        server.base_url      # http://127.0.0.1:PORT  (ANTHROPIC_BASE_URL)
        server.requests      # the request bodies, in order

It is stateless in the way a model is: the reply to a request is chosen by the
number of assistant turns already in its ``messages``, not by how many requests
came before, so a retry of the CLI does not shift the script. Once the script is
used up the last reply repeats.

A reply: ``use(name, **input)`` / ``uses(...)`` (tool_use blocks), ``text(t)``
(a final answer), ``status(code)`` (an HTTP error), ``hang()`` (no answer until
the server stops: a model still thinking at the deadline); ``usage`` overrides the
token counts. The SSE stream sends the usage the way the real API does: a
placeholder ``output_tokens`` in ``message_start`` and the real count in
``message_delta``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackServer, send_json, send_sse

__all__ = ["ScriptedAnthropic", "hang", "status", "text", "use", "uses"]

Reply = dict[str, Any]

#: Usage of every reply unless the reply says otherwise.
DEFAULT_USAGE = {
    "input_tokens": 1000,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 60,
}
#: What message_start says of the output before the reply is written (the real API sends 1-3).
PLACEHOLDER_OUTPUT_TOKENS = 3


def use(name: str, **arguments: Any) -> Reply:
    """One tool_use block."""
    return {"tool_uses": [(name, arguments)]}


def uses(*replies: Reply) -> Reply:
    """Several tool_use blocks in one turn: ``uses(use(...), use(...))``."""
    return {"tool_uses": [u for r in replies for u in r["tool_uses"]]}


def text(content: str) -> Reply:
    """A text answer without tool use: the agent stops."""
    return {"text": content}


def status(code: int, message: str = "scripted error", kind: str = "api_error") -> Reply:
    """An HTTP error answer (401 authentication_error, 529 overloaded_error ...)."""
    return {"status": code, "message": message, "kind": kind}


def hang() -> Reply:
    """No answer until the server stops."""
    return {"hang": True}


def assistant_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")


def tool_results(body: dict[str, Any]) -> list[str]:
    """The text of every tool_result block in the conversation, in order."""
    found = []
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    found.append("".join(b.get("text", "") for b in inner if isinstance(b, dict)))
                else:
                    found.append(str(inner or ""))
    return found


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


class ScriptedAnthropic(LoopbackServer):
    """An Anthropic Messages API endpoint on 127.0.0.1 playing ``script``."""

    def __init__(self, script: Sequence[Reply] | Callable[[int, dict[str, Any]], Reply]) -> None:
        self.script = script
        #: Bodies of every /v1/messages request, in order.
        self.requests: list[dict[str, Any]] = []
        #: Request headers, in the same order (lower-cased names).
        self.headers: list[dict[str, str]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return self.origin

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
        step = assistant_turns(body)
        if callable(self.script):
            return self.script(step, body)
        return self.script[min(step, len(self.script) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._send(200, {})

            def do_GET(self) -> None:
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?", 1)[0]
                if path.endswith("/messages/count_tokens"):
                    return self._send(200, {"input_tokens": 1000})
                if not path.endswith("/v1/messages"):
                    error = {"type": "not_found_error", "message": f"no route {self.path}"}
                    return self._send(404, {"type": "error", "error": error})
                reply = server.next_reply(body, {k.lower(): v for k, v in self.headers.items()})
                if reply.get("hang"):
                    server._stopping.wait()
                    return None
                if "status" in reply:
                    error = {"type": reply["kind"], "message": reply["message"]}
                    return self._send(reply["status"], {"type": "error", "error": error})
                number = len(server.requests)
                message = _message(body, reply, number)
                if body.get("stream"):
                    return self._stream(message)
                return self._send(200, message)

            def _send(self, code: int, document: dict[str, Any]) -> None:
                send_json(self, code, document, {"request-id": "req_scripted"})

            def _stream(self, message: dict[str, Any]) -> None:
                send_sse(self, list(_events(message)))

        return Handler


def _message(request: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    """A complete Messages API ``message`` for ``reply``."""
    content: list[dict[str, Any]] = []
    if reply.get("text"):
        content.append({"type": "text", "text": reply["text"]})
    for i, (name, arguments) in enumerate(reply.get("tool_uses") or []):
        content.append(
            {"type": "tool_use", "id": f"toolu_{number:04d}_{i}", "name": name, "input": arguments}
        )
    return {
        "id": f"msg_scripted_{number:04d}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", "scripted"),
        "content": content,
        "stop_reason": "tool_use" if reply.get("tool_uses") else "end_turn",
        "stop_sequence": None,
        "usage": {**DEFAULT_USAGE, **(reply.get("usage") or {})},
    }


def _events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a streamed ``message``, as the real API orders them."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": PLACEHOLDER_OUTPUT_TOKENS}}  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        first: dict[str, Any]
        if block["type"] == "text":
            first = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            first = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events
