"""Finding agents: built-in names, module:Class, and third-party entry points."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_autolab.agents import AgentError, load_agent
from pytest_autolab.agents.builtin import NopAgent, OracleAgent


def test_builtin_agents_by_name() -> None:
    assert isinstance(load_agent("nop"), NopAgent)
    assert isinstance(load_agent("oracle"), OracleAgent)


def test_module_colon_class_with_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_agents.py").write_text(
        "class Tuned:\n"
        "    name = 'tuned'\n"
        "    def __init__(self, temperature='0'):\n"
        "        self.temperature = float(temperature)\n"
        "    def run(self, ctx):\n"
        "        return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = load_agent("my_agents:Tuned", {"temperature": "0.7"})
    assert agent.temperature == 0.7  # type: ignore[attr-defined]
    with pytest.raises(AgentError, match="does not accept these options"):
        load_agent("my_agents:Tuned", {"colour": "red"})
    with pytest.raises(AgentError, match="has no agent 'Missing'"):
        load_agent("my_agents:Missing")
    with pytest.raises(AgentError, match="cannot import agent module 'no_such_module'"):
        load_agent("no_such_module:Agent")


def test_third_party_agents_come_from_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "acme_agents-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-agents\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest_autolab.agents]\nacme = acme_agent:Acme\n")
    (tmp_path / "acme_agent.py").write_text(
        "class Acme:\n    name = 'acme'\n    def run(self, ctx):\n        return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = load_agent("acme")
    assert type(agent).__name__ == "Acme"


def test_an_unknown_agent_lists_the_choices() -> None:
    with pytest.raises(AgentError) as info:
        load_agent("gpt-17")
    message = str(info.value)
    assert "unknown agent 'gpt-17'" in message
    for name in ("nop", "oracle", "llm", "claude", "codex", "module:Class"):
        assert name in message


def test_an_object_without_run_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_agents.py").write_text("class Lazy:\n    name = 'lazy'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AgentError, match=r"has no run\(ctx\) method"):
        load_agent("lazy_agents:Lazy")


def test_an_unknown_agent_is_a_usage_error_before_anything_runs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--autolab-agent=gpt-17")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--autolab-agent: unknown agent 'gpt-17': expected one of *"])
