"""A scripted OpenAI-compatible chat-completions server for the agent tests.

A real HTTP server on 127.0.0.1 (http.server in a thread) that answers each
``POST /v1/chat/completions`` with the next reply of a script, and records the
requests it got so that a test can check what the agent sent back::

    with ScriptedEndpoint([call("read_file", path="solve.py"), say("done")]) as endpoint:
        endpoint.base_url      # http://127.0.0.1:PORT/v1
        ...
        endpoint.requests      # the request bodies, in order

A reply is a dict: ``call(...)``/``calls(...)`` (tool calls), ``say(text)`` (a
final message), ``status(429)`` (an HTTP error); ``usage`` and ``finish_reason``
keys override the defaults. Once the script is used up the
last reply repeats, so ``[..., call("bash", command="sleep 1")]`` keeps asking
for tools forever.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackServer, send_json

__all__ = ["GREEN_16", "ScriptedEndpoint", "call", "calls", "network_module", "raw_call", "say", "status"]

Reply = dict[str, Any]

#: Green's 60-comparator sorting network for 16 inputs (Knuth, TAOCP 3, 5.3.4).
GREEN_16: list[tuple[int, int]] = [
    (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15),
    (0, 2), (1, 3), (4, 6), (5, 7), (8, 10), (9, 11), (12, 14), (13, 15),
    (0, 4), (1, 5), (2, 6), (3, 7), (8, 12), (9, 13), (10, 14), (11, 15),
    (0, 8), (1, 9), (2, 10), (3, 11), (4, 12), (5, 13), (6, 14), (7, 15),
    (5, 10), (6, 9), (3, 12), (13, 14), (7, 11), (1, 2), (4, 8),
    (1, 4), (7, 13), (2, 8), (11, 14), (5, 6), (9, 10),
    (2, 4), (11, 13), (3, 8), (7, 12),
    (6, 8), (10, 12), (3, 5), (7, 9),
    (3, 4), (5, 6), (7, 8), (9, 10), (11, 12),
    (6, 7), (8, 9),
]  # fmt: skip


def network_module(network: Sequence[tuple[int, int]]) -> str:
    """A solve.py whose generate_network(16) returns ``network``."""
    return (
        f"NETWORK = {[list(pair) for pair in network]!r}\n\n\n"
        "def generate_network(n):\n"
        "    return [tuple(pair) for pair in NETWORK]\n"
    )


def raw_call(name: str, arguments: str) -> Reply:
    """A tool call with ``arguments`` sent verbatim (malformed JSON included)."""
    return {"tool_calls": [(name, arguments)]}


def call(name: str, **arguments: Any) -> Reply:
    """One tool call."""
    return {"tool_calls": [(name, json.dumps(arguments))]}


def calls(*replies: Reply) -> Reply:
    """Several tool calls in one turn: ``calls(call(...), call(...))``."""
    return {"tool_calls": [c for r in replies for c in r["tool_calls"]]}


def say(text: str) -> Reply:
    """A final message without tool calls: the agent stops."""
    return {"content": text}


def status(code: int, *, retry_after: str | None = "0", message: str = "scripted error") -> Reply:
    """An HTTP error answer (429, 500, 401 ...)."""
    return {"status": code, "retry_after": retry_after, "message": message}


class ScriptedEndpoint(LoopbackServer):
    """An OpenAI-compatible endpoint on 127.0.0.1 playing ``script``."""

    def __init__(self, script: Sequence[Reply] | Callable[[int, dict[str, Any]], Reply]) -> None:
        self.script = script
        #: Bodies of the chat-completions requests, in order.
        self.requests: list[dict[str, Any]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
        if callable(self.script):
            return self.script(index, body)
        return self.script[min(index, len(self.script) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                reply = endpoint.next_reply(body)
                if "status" in reply:
                    headers = {"retry-after": reply["retry_after"]} if reply.get("retry_after") else {}
                    return self._send(reply["status"], {"error": {"message": reply["message"]}}, headers)
                return self._send(200, completion(body, reply, len(endpoint.requests)))

            def _send(
                self, code: int, document: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                send_json(self, code, document, headers)

        return Handler


def completion(request: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    """A chat.completion document for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    finish = "stop"
    if reply.get("tool_calls"):
        message["tool_calls"] = [
            {"id": f"call_{number}_{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply["tool_calls"])
        ]
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.get("finish_reason", finish)}],
        "usage": reply.get("usage", {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}),
    }
