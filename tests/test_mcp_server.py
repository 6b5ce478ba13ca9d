"""The MCP server, driven by the MCP client SDK over its real transport (streamable HTTP)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_autolab.agents import AgentError
from pytest_autolab.lab import Lab, RunSettings
from pytest_autolab.ledger import Ledger
from pytest_autolab.sandboxes.local import LocalSandbox
from pytest_autolab.tasks import Task
from pytest_autolab.tools import Budget, LabTools

from .test_tools import write_toy_task

pytest.importorskip("mcp")

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from pytest_autolab.agents.mcp_server import LabServer


@pytest.fixture
def lab_run(tmp_path: Path) -> Iterator[tuple[Lab, Task, LocalSandbox]]:
    """A toy task with a lab (real evaluate(): a child pytest) and an agent sandbox."""
    task = write_toy_task(tmp_path)
    lab = Lab(RunSettings(run_id=f"mcp-{time.time_ns()}", run_dir=tmp_path / "run", sandbox="local"))
    sandbox = lab.backend.start(task, role="agent", labels=lab.labels(task, "agent"))
    assert isinstance(sandbox, LocalSandbox)
    yield lab, task, sandbox
    sandbox.close()
    lab.backend.sweep(lab.labels(task, "agent"))


def lab_tools(lab: Lab, task: Task, sandbox: LocalSandbox, *, time_s: float = 120) -> LabTools:
    return LabTools(
        task=task,
        sandbox=sandbox,
        budget=Budget(time_s=time_s, max_evaluations=3),
        evaluator=lambda files, limit_s=None: lab.evaluate(task, files, limit_s=limit_s),
        ledger=Ledger(lab.task_dir(task)),
    )


def session(server: LabServer, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """Connect with the SDK's client, list the tools, make ``calls``; return (tools, results)."""

    async def main() -> tuple[list[Any], list[Any]]:
        async with (
            create_mcp_http_client(headers=server.headers) as http,
            Client(streamable_http_client(server.url, http_client=http)) as client,
        ):
            tools = (await client.list_tools()).tools
            results = [await client.call_tool(name, arguments) for name, arguments in calls]
        return tools, results

    return anyio.run(main)


def text(result: Any) -> str:
    return str(result.content[0].text)


def test_client_lists_the_lab_tools_runs_bash_and_evaluates(
    lab_run: tuple[Lab, Task, LocalSandbox], tmp_path: Path
) -> None:
    lab, task, sandbox = lab_run
    tools = lab_tools(lab, task, sandbox)
    journal = tmp_path / "tool_calls.jsonl"
    with LabServer(tools, journal=journal) as server:
        assert server.url.startswith("http://127.0.0.1:")
        listed, results = session(server, [
            ("bash", {"command": "pwd; cat value.txt"}),
            ("write_file", {"path": "value.txt", "content": "10\n"}),
            ("evaluate", {}),
            ("status", {}),
        ])  # fmt: skip

    assert [t.name for t in listed] == ["bash", "read_file", "write_file", "evaluate", "status"]
    bash_tool = listed[0]
    assert bash_tool.input_schema["required"] == ["command"]
    assert "app directory" in bash_tool.description

    bash, _, evaluation, status = results
    assert not bash.is_error
    assert text(bash).splitlines()[1:3] == [sandbox.workdir, "100"]
    verdict = json.loads(text(evaluation).rsplit("\n[time left", 1)[0])
    assert (verdict["correct"], verdict["metric"], verdict["reward"]) == (True, 10.0, 0.5)
    assert json.loads(text(status).rsplit("\n[time left", 1)[0])["best"]["metric"] == 10.0

    # The calls landed in the run's own tools: the ledger and the journal have them.
    assert tools.ledger is not None
    assert [e["metric"] for e in tools.ledger.entries] == [10.0]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["tool"] for line in lines] == ["bash", "write_file", "evaluate", "status"]
    assert lines[1]["arguments"] == {"path": "value.txt", "content": "10\n"}
    assert server.calls == {"bash": 1, "write_file": 1, "evaluate": 1, "status": 1}


def test_malformed_calls_and_calls_after_the_deadline_are_tool_errors(
    lab_run: tuple[Lab, Task, LocalSandbox],
) -> None:
    lab, task, sandbox = lab_run
    tools = lab_tools(lab, task, sandbox, time_s=0.0)
    with LabServer(tools) as server:
        _, (wrong, late, status) = session(
            server, [("bash", {"cmd": "ls"}), ("bash", {"command": "ls"}), ("status", {})]
        )
    assert wrong.is_error
    assert text(wrong) == "error: bash: unknown argument(s) cmd; it takes command, timeout"
    assert late.is_error
    assert "the time budget (0 s) is spent: stop now" in text(late)
    assert not status.is_error


def test_requests_without_the_token_are_refused_and_the_server_stops(
    lab_run: tuple[Lab, Task, LocalSandbox],
) -> None:
    lab, task, sandbox = lab_run
    with LabServer(lab_tools(lab, task, sandbox)) as server:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"accept": "application/json, text/event-stream"}
        anonymous = httpx2.post(server.url, json=body, headers=headers)
        forged = httpx2.post(server.url, json=body, headers={**headers, "authorization": "Bearer guess"})
        url = server.url
    assert anonymous.status_code == 401
    assert forged.status_code == 401
    with pytest.raises(httpx2.ConnectError):
        httpx2.post(url, json=body, headers=headers)


def test_missing_mcp_package_names_the_pip_command(
    lab_run: tuple[Lab, Task, LocalSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, task, sandbox = lab_run
    monkeypatch.setitem(sys.modules, "mcp.server.lowlevel", None)
    with pytest.raises(
        AgentError, match=r"needs the 'mcp' package .* pip install 'pytest-autolab\[agents\]'"
    ):
        LabServer(lab_tools(lab, task, sandbox)).start()
