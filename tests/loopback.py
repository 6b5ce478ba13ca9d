"""The plumbing the scripted model servers share: a threaded HTTP server on 127.0.0.1 that a
``with`` block starts and stops, and the two ways they answer (a JSON document, an SSE stream).

Each server (scripted_endpoint, scripted_responses, scripted_anthropic) subclasses
``LoopbackServer`` with its own request handler; what they script differs, the serving does not.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["LoopbackServer", "send_json", "send_sse"]


class LoopbackServer:
    """A server on 127.0.0.1 (a free port) in a daemon thread; ``_handler()`` gives its class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Set when the server stops: a handler holding a request back (a "hang") lets go.
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def send_json(
    handler: BaseHTTPRequestHandler, code: int, document: Any, headers: dict[str, str] | None = None
) -> None:
    """Answer with ``document`` as JSON (and ``headers``)."""
    data = json.dumps(document).encode()
    handler.send_response(code)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def send_sse(handler: BaseHTTPRequestHandler, events: list[tuple[str, Any]]) -> None:
    """Answer with a whole server-sent event stream: one ``event: name`` / ``data: json`` each."""
    data = b"".join(f"event: {name}\ndata: {json.dumps(event)}\n\n".encode() for name, event in events)
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("cache-control", "no-cache")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
