"""The scripted Messages API server the real-CLI tests drive Claude Code with."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from .scripted_anthropic import PLACEHOLDER_OUTPUT_TOKENS, ScriptedAnthropic, status, text, use


def post(server: ScriptedAnthropic, body: dict[str, Any]) -> tuple[int, str, str]:
    request = urllib.request.Request(
        server.base_url + "/v1/messages?beta=true",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "k"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read().decode()


USER = {"role": "user", "content": "go"}


def test_the_reply_follows_the_conversation_not_the_request_count() -> None:
    script = [use("mcp__autolab__status"), text("done")]
    with ScriptedAnthropic(script) as server:
        for _ in range(2):  # a retry of the first turn gets the first reply again
            code, kind, data = post(server, {"model": "m", "messages": [USER]})
            assert (code, kind) == (200, "application/json")
            message = json.loads(data)
            assert message["stop_reason"] == "tool_use"
            assert message["content"][0]["name"] == "mcp__autolab__status"
        turn = {"role": "assistant", "content": message["content"]}
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "ok"}]}
        message = json.loads(post(server, {"model": "m", "messages": [USER, turn, result]})[2])
    assert message["content"] == [{"type": "text", "text": "done"}]
    assert message["usage"]["output_tokens"] == 60
    assert len(server.requests) == 3


def test_a_streamed_reply_sends_a_placeholder_usage_first_and_the_real_one_last() -> None:
    with ScriptedAnthropic([use("mcp__autolab__bash", command="ls")]) as server:
        code, kind, data = post(server, {"model": "m", "stream": True, "messages": [USER]})
    assert (code, kind) == (200, "text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in data.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert events[0]["message"]["usage"]["output_tokens"] == PLACEHOLDER_OUTPUT_TOKENS
    assert json.loads(events[2]["delta"]["partial_json"]) == {"command": "ls"}
    assert events[4]["usage"]["output_tokens"] == 60
    assert events[4]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("code", [401, 529])
def test_an_error_reply_is_an_api_error_document(code: int) -> None:
    with ScriptedAnthropic([status(code, "nope", "authentication_error")]) as server:
        answer, _, data = post(server, {"model": "m", "messages": [USER]})
    assert answer == code
    assert json.loads(data) == {"type": "error", "error": {"type": "authentication_error", "message": "nope"}}
