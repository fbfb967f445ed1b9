"""The command line: list-plugins, list KIND, check, errors as one line."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from mlgym_core.cli import cli


def test_list_plugins_all_shows_builtins(core_only):
    res = CliRunner().invoke(cli, ["list-plugins", "--all", "--json"])
    rows = json.loads(res.output)
    names = {r["name"] for r in rows}
    assert {"core.runtimes", "core.models", "core.agents", "core.tools", "core.metrics"} <= names
    for r in rows:
        assert set(r) >= {"name", "distribution", "version", "hooks", "provides", "status", "error"}
    agents = next(r for r in rows if r["name"] == "core.agents")
    assert agents["provides"] == {"agents": 2} and agents["hooks"] == ["register_agents"]


def test_list_plugins_without_all_hides_builtins(core_only):
    res = CliRunner().invoke(cli, ["list-plugins", "--json"])
    assert all(not r["builtin"] for r in json.loads(res.output))


def test_list_kinds(core_only):
    r = CliRunner().invoke(cli, ["list", "agents"])
    assert "baseline" in r.output and "replay" in r.output
    r = CliRunner().invoke(cli, ["list", "tools", "--json"])
    tools = {t["name"]: t for t in json.loads(r.output)}
    assert tools["validate"]["signature"] == "validate" and tools["submit"]["docstring"]
    r = CliRunner().invoke(cli, ["list", "runtimes"])
    assert "local" in r.output
    r = CliRunner().invoke(cli, ["list", "models", "--json"])
    assert [m["id"] for m in json.loads(r.output)] == ["scripted"]


def test_unknown_kind_is_rejected(core_only):
    r = CliRunner().invoke(cli, ["list", "gizmos"])
    assert r.exit_code == 2 and "gizmos" in r.output


def test_errors_are_one_line_with_exit_code_2(core_only):
    r = subprocess.run([sys.executable, "-m", "mlgym_core", "run", "--task", "nope", "--agent", "baseline"],
                       capture_output=True, text=True, env={**__import__("os").environ, "MLGYM_LOAD_PLUGINS": ""})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "No task 'nope'" in r.stderr


def test_check_unknown_id_fails(core_only):
    r = CliRunner().invoke(cli, ["check", "noSuchTask"])
    assert r.exit_code == 1 and "noSuchTask" in r.output


def test_help_lists_env_vars():
    r = CliRunner().invoke(cli, ["--help"])
    for var in ("MLGYM_LOAD_PLUGINS", "MLGYM_DISABLE_PLUGINS", "MLGYM_TRACE_PLUGINS", "MLGYM_STRICT_PLUGINS"):
        assert var in r.output
