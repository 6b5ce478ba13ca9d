"""A scripted Responses-API server (what the Codex CLI speaks) for the codex tests.

A real HTTP server on 127.0.0.1 that answers each ``POST /v1/responses`` with a
streamed (SSE) response: the next move of a script, and records every request so
that a test can check what the CLI offered and sent back::

    with ScriptedResponses(script) as server:
        server.base_url        # http://127.0.0.1:PORT/v1
        ...
        server.requests        # the request bodies, in order
        server.tool_names(0)   # the tools offered in the first request

Like tests/scripted_endpoint.py it is stateless: a script is a list of moves
(the last one repeats) or a function ``(index, body) -> move`` that decides from
the conversation (``body["input"]``). A move is ``call(name, **arguments)`` /
``calls(...)`` (function calls), ``say(text)`` (a final message) or
``status(code)`` (an HTTP error); ``usage`` overrides the token counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackServer, send_json, send_sse

__all__ = [
    "USAGE",
    "ScriptedResponses",
    "call",
    "calls",
    "conversation",
    "custom",
    "function_outputs",
    "offered_tools",
    "say",
    "status",
]

Move = dict[str, Any]

#: Token counts of every scripted response unless a move says otherwise.
USAGE = {"input_tokens": 1000, "cached_tokens": 600, "output_tokens": 50}


def call(name: str, **arguments: Any) -> Move:
    """One function call; ``"mcp__autolab.bash"`` calls ``bash`` in namespace ``mcp__autolab``."""
    return {"calls": [(name, json.dumps(arguments))]}


def custom(name: str, text: str) -> Move:
    """One call of a freeform (custom) tool such as Codex's ``exec`` or ``apply_patch``."""
    return {"calls": [(name, text)], "custom": True}


def calls(*moves: Move) -> Move:
    """Several function calls in one response: ``calls(call(...), call(...))``."""
    return {"calls": [c for move in moves for c in move["calls"]]}


def conversation(moves: Sequence[Move]) -> Callable[[int, dict[str, Any]], Move]:
    """A stateless script: the move after the ones whose calls the request already answers
    (so a retried or extra request gets the same move again)."""

    def script(index: int, body: dict[str, Any]) -> Move:
        answered, made = len(function_outputs(body)), 0
        for move in moves:
            if made >= answered:
                return move
            made += len(move.get("calls", ()))
        return moves[-1]

    return script


def say(text: str) -> Move:
    """A final assistant message without calls: the CLI ends its turn."""
    return {"text": text}


def status(code: int, message: str = "scripted error") -> Move:
    """An HTTP error answer (401, 429, 500 ...)."""
    return {"status": code, "message": message}


def offered_tools(body: dict[str, Any]) -> list[str]:
    """Every tool a request offers the model, flattened: top-level ``tools`` and the
    ``additional_tools`` input items, a namespace's tools as ``namespace.name``, built-in
    tool types (``web_search``) by type, and the tools reachable only inside Codex's
    JavaScript ``exec`` tool (described in its description) as ``exec:name``."""
    names: list[str] = []

    def walk(tools: list[dict[str, Any]], prefix: str) -> None:
        for tool in tools:
            name = str(tool.get("name") or tool.get("type"))
            if tool.get("type") == "namespace":
                walk(tool.get("tools") or [], f"{name}.")
                continue
            names.append(prefix + name)
            if name == "exec":
                description = str(tool.get("description") or "")
                names.extend(f"exec:{nested}" for nested in re.findall(r"^### `([^`]+)`", description, re.M))

    walk(body.get("tools") or [], "")
    for item in body.get("input") or []:
        if item.get("type") == "additional_tools":
            walk(item.get("tools") or [], "")
    return names


def function_outputs(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(call name, output text) of every function call answered in a request's input."""
    names = {
        item.get("call_id"): ".".join(filter(None, [item.get("namespace"), item.get("name")]))
        for item in body.get("input", [])
        if item.get("type") in ("function_call", "custom_tool_call")
    }
    answered = []
    for item in body.get("input", []):
        if item.get("type") in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            if isinstance(output, list):  # content items
                output = "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
            elif isinstance(output, dict):
                output = str(output.get("content") or output)
            answered.append((str(names.get(item.get("call_id"))), str(output)))
    return answered


class ScriptedResponses(LoopbackServer):
    """A Responses-API endpoint on 127.0.0.1 playing ``script``."""

    def __init__(self, script: Sequence[Move] | Callable[[int, dict[str, Any]], Move]) -> None:
        self.script = script
        #: Bodies of the ``/responses`` requests, in order.
        self.requests: list[dict[str, Any]] = []
        #: Other requests, as "METHOD path" (model listings and the like).
        self.other: list[str] = []
        #: The Authorization headers seen.
        self.authorizations: list[str] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def tool_names(self, index: int = 0) -> list[str]:
        """The tools offered in request ``index`` (see ``offered_tools``)."""
        return offered_tools(self.requests[index])

    def next_move(self, body: dict[str, Any]) -> tuple[int, Move]:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
        if callable(self.script):
            return index, self.script(index, body)
        return index, self.script[min(index, len(self.script) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.other.append(f"GET {self.path}")
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/responses"):
                    server.other.append(f"POST {self.path}")
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if (self.headers.get("content-encoding") or "").lower() == "zstd":
                    return self._send(
                        415, {"error": {"message": "compressed request bodies are not scripted"}}
                    )
                body = json.loads(data or b"{}")
                server.authorizations.append(self.headers.get("authorization") or "")
                index, move = server.next_move(body)
                if "status" in move:
                    return self._send(move["status"], {"error": {"message": move["message"]}})
                send_sse(self, [(e["type"], e) for e in stream_events(body, move, index + 1)])

            def _send(self, code: int, document: dict[str, Any]) -> None:
                send_json(self, code, document)

        return Handler


def stream_events(request: dict[str, Any], move: Move, number: int) -> list[dict[str, Any]]:
    """The SSE events of one response: created, the output items, completed (with usage)."""
    response_id = f"resp_{number}"
    items: list[dict[str, Any]] = []
    for i, (name, arguments) in enumerate(move.get("calls", [])):
        namespace, _, short = name.rpartition(".")
        item = {
            "id": f"fc_{number}_{i}",
            "call_id": f"call_{number}_{i}",
            "name": short,
            "status": "completed",
        }
        if move.get("custom"):
            item.update(type="custom_tool_call", input=arguments)
        else:
            item.update(type="function_call", arguments=arguments)
        if namespace:
            item["namespace"] = namespace
        items.append(item)
    if "text" in move:
        items.append({"type": "message", "id": f"msg_{number}", "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": move["text"], "annotations": []}]})  # fmt: skip
    usage = {**USAGE, **move.get("usage", {})}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}}
    ]
    for index, item in enumerate(items):
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        if item["type"] == "message":
            events.append({"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                           "content_index": 0, "delta": move["text"]})  # fmt: skip
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": {
        "id": response_id, "status": "completed", "model": request.get("model", "scripted"), "output": items,
        "usage": {"input_tokens": usage["input_tokens"],
                  "input_tokens_details": {"cached_tokens": usage["cached_tokens"]},
                  "output_tokens": usage["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": usage["input_tokens"] + usage["output_tokens"]}}})  # fmt: skip
    return events
