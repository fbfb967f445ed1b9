"""The plugin's contract: its hooks called directly, conformance through its entry point, listing."""

from __future__ import annotations

import pytest

from mlgym_core import AgentSpec, ModelBackendSpec
from mlgym_core.checks import check_agent, check_model_backend
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_agents import plugin

AGENTS = list(plugin.register_agents())


def test_hooks_return_the_agents_and_the_backend():
    assert {"default", "tool-calling"} <= {a.name for a in AGENTS} and all(isinstance(a, AgentSpec) for a in AGENTS)
    (backend,) = plugin.register_model_backends()
    assert isinstance(backend, ModelBackendSpec) and backend.name == "openai"
    check_model_backend(backend)


@pytest.mark.parametrize("agent", AGENTS, ids=lambda a: a.name)
def test_agent_passes_conformance(agent):
    check_agent(agent)  # its factory is callable and every tool group it asks for is installed


def test_plugin_conformance():
    """Loaded through its entry point; registering imports neither the openai client nor httpx."""
    report = check_plugin("agents", heavy=("openai", "httpx"))
    assert report.items["agents"] == [a.name for a in AGENTS] and report.items["models"] == ["openai"]


def test_listed_by_cli():
    row = next(p for p in list_plugins_json() if p["name"] == "agents")
    assert row["status"] == "ok" and row["provides"] == {"agents": len(AGENTS), "models": 1}
