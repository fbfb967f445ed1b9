"""Plugin loading: entry points, broken plugins, strict mode, misspelled hooks, allow/block lists,
and one test per hook (test_hook_<name>)."""

from __future__ import annotations

import subprocess
import sys
import types

import click
import pytest
from click.testing import CliRunner

from mlgym_core import (
    AgentSpec,
    DatasetSpec,
    MetricSpec,
    ModelBackendSpec,
    PluginLoadError,
    RuntimeSpec,
    ToolSpec,
    hookimpl,
)
from mlgym_core.cli import cli
from mlgym_core.plugins import plugin_manager
from mlgym_core.registry import collect, get
from mlgym_core.testing import FakeEntryPoint, fake_entry_points, make_task_spec, registered


def _module(name: str, **hooks) -> types.ModuleType:
    m = types.ModuleType(name)
    for k, v in hooks.items():
        setattr(m, k, hookimpl(v))
    return m


def test_entry_point_plugin_is_loaded_and_listed(monkeypatch):
    good = _module("good", register_agents=lambda: [AgentSpec(name="a1", description="d", factory=dict)])
    with fake_entry_points(monkeypatch, FakeEntryPoint("good", good, "good-dist", "1.2")):
        rec = plugin_manager().records["good"]
        assert (rec.status, rec.distribution, rec.version) == ("ok", "good-dist", "1.2")
        assert get("agents", "a1").plugin == "good"
        out = CliRunner().invoke(cli, ["list-plugins"]).output
        assert "good" in out and "1 agent" in out


def test_broken_plugin_is_skipped_with_one_line(monkeypatch, capsys):
    monkeypatch.delenv("MLGYM_STRICT_PLUGINS", raising=False)
    good = _module("good", register_agents=lambda: [AgentSpec(name="a1", description="d", factory=dict)])
    eps = [FakeEntryPoint("broken", ModuleNotFoundError("No module named 'gymnax'"), "mlgym-tasks-rl", "0.1.0"),
           FakeEntryPoint("good", good)]
    with fake_entry_points(monkeypatch, *eps):
        err = capsys.readouterr().err
        assert "skipped plugin 'broken' (mlgym-tasks-rl 0.1.0): ModuleNotFoundError: No module named 'gymnax'" in err
        assert err.count("skipped plugin") == 1
        rec = plugin_manager().records["broken"]
        assert rec.status == "error" and "gymnax" in rec.error
        assert get("agents", "a1")  # the rest still works
        res = CliRunner().invoke(cli, ["list-plugins", "--json"])
        rows = {r["name"]: r for r in __import__("json").loads(res.output)}
        assert rows["broken"]["status"] == "error" and rows["good"]["status"] == "ok"


def test_strict_mode_reraises_with_plugin_name(monkeypatch):
    monkeypatch.setenv("MLGYM_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"plugin 'broken' .*ImportError: boom") as ei:
        with fake_entry_points(monkeypatch, FakeEntryPoint("broken", ImportError("boom"))):
            pass
    assert isinstance(ei.value.__cause__, ImportError)


def test_misspelled_hook_fails(monkeypatch):
    monkeypatch.setenv("MLGYM_STRICT_PLUGINS", "1")
    typo = types.ModuleType("typo")
    typo.register_task = hookimpl(lambda: [])  # singular: not a hook
    with pytest.raises(PluginLoadError, match=r"plugin 'typo'.*register_task"):
        with fake_entry_points(monkeypatch, FakeEntryPoint("typo", typo)):
            pass


def test_misspelled_hook_not_strict_is_an_error_row(monkeypatch, capsys):
    monkeypatch.delenv("MLGYM_STRICT_PLUGINS", raising=False)
    typo = types.ModuleType("typo")
    typo.register_toolz = hookimpl(lambda: [])
    with fake_entry_points(monkeypatch, FakeEntryPoint("typo", typo)):
        assert plugin_manager().records["typo"].status == "error"
        assert not plugin_manager().pm.is_registered(typo)  # no partial state left
    assert "register_toolz" in capsys.readouterr().err


def test_allow_and_block_lists(monkeypatch):
    a = _module("a", register_agents=lambda: [AgentSpec(name="x", description="d", factory=dict)])
    b = _module("b", register_agents=lambda: [AgentSpec(name="y", description="d", factory=dict)])
    with fake_entry_points(monkeypatch, FakeEntryPoint("a", a), FakeEntryPoint("b", b)):
        assert {"a", "b"} <= set(plugin_manager().records)
    monkeypatch.setenv("MLGYM_DISABLE_PLUGINS", "b")
    with fake_entry_points(monkeypatch, FakeEntryPoint("a", a), FakeEntryPoint("b", b)):
        assert "b" not in plugin_manager().records and "a" in plugin_manager().records
    monkeypatch.delenv("MLGYM_DISABLE_PLUGINS")
    with fake_entry_points(monkeypatch, FakeEntryPoint("a", a), FakeEntryPoint("b", b)):
        monkeypatch.setenv("MLGYM_LOAD_PLUGINS", "b")
        from mlgym_core.testing import fresh_manager

        with fresh_manager():
            assert "a" not in plugin_manager().records and "b" in plugin_manager().records


def test_trace_env_var_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("MLGYM_TRACE_PLUGINS", "1")
    with fake_entry_points(monkeypatch):
        collect("agents")
    assert "register_agents" in capsys.readouterr().err


def test_list_plugins_imports_no_heavy_module():
    code = ("import sys; from mlgym_core.cli import main\n"
            "try:\n    main(['list-plugins', '--all'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'jax', 'datasets', 'lancedb', 'openai', 'transformers', 'gymnax',"
            " 'docker', 'ray', 'matplotlib', 'semanticscholar', 'pdfplumber') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "HEAVY []" in out, out


# -- one test per hook ----------------------------------------------------------------------

def test_hook_register_tasks(core_only, tmp_path):
    (tmp_path / "evaluate.py").write_text("print('{}')")

    class P:
        @hookimpl
        def register_tasks(self):
            return [make_task_spec(tmp_path, id="hookTask")]

    with registered(P(), "p"):
        t = get("tasks", "hookTask")
        assert t.plugin == "p" and t.qualified == "p/hookTask"


def test_hook_register_datasets(core_only):
    class P:
        @hookimpl
        def register_datasets(self):
            return [DatasetSpec(id="ds", description="a dataset", source="hf:org/ds")]

    with registered(P(), "p"):
        assert get("datasets", "p/ds").source == "hf:org/ds"


def test_hook_register_tools(core_only, tmp_path):
    src = tmp_path / "t.sh"
    src.write_text("hello() { echo hi; }\n")

    class P:
        @hookimpl
        def register_tools(self):
            return [ToolSpec(name="hello", signature="hello", docstring="says hi", source=src)]

    with registered(P(), "p"):
        names = {t.name for t in collect("tools")}
        assert {"hello", "validate", "submit"} <= names


def test_hook_register_agents(core_only):
    class P:
        @hookimpl
        def register_agents(self):
            return [AgentSpec(name="noop", description="does nothing", factory=dict, uses_model=False)]

    with registered(P(), "p"):
        assert get("agents", "noop").uses_model is False
        assert get("agents", "baseline").plugin == "core.agents"


def test_hook_register_metrics(core_only):
    class P:
        @hookimpl
        def register_metrics(self):
            return [MetricSpec(name="mean_score", description="mean", compute=lambda runs: 0.0)]

    with registered(P(), "p"):
        assert get("metrics", "mean_score").compute([]) == 0.0


def test_hook_register_runtimes(core_only):
    class P:
        @hookimpl
        def register_runtimes(self):
            return [RuntimeSpec(name="fake", description="fake runtime", factory=object)]

    with registered(P(), "p"):
        assert {"fake", "local"} <= {r.name for r in collect("runtimes")}


def test_hook_register_model_backends(core_only):
    class P:
        @hookimpl
        def register_model_backends(self):
            return [ModelBackendSpec(name="echo", description="echo", factory=lambda m, **k: m)]

    with registered(P(), "p"):
        assert get("models", "echo").factory("x") == "x"
        assert get("models", "scripted")


def test_hook_register_attacks(core_only, tmp_path):
    from mlgym_core import AttackSpec, attacks, load_attacks

    (tmp_path / "mine.yaml").write_text("attacks:\n  - name: peek\n    attack_class: hidden-files\n"
                                        "    description: look\n    actions: [ls /]\n    detect: [secret]\n")

    class P:
        @hookimpl
        def register_attacks(self):
            return load_attacks(tmp_path, plugin="p")

    with registered(P(), "p"):
        (peek,) = attacks()
        assert isinstance(peek, AttackSpec) and peek.qualified == "p/peek" and peek.actions == ("ls /",)


def test_hook_register_commands(core_only):
    class P:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("hello-world")
            def hello():
                click.echo("hello from a plugin")

    with registered(P(), "p"):
        res = CliRunner().invoke(cli, ["hello-world"])
        assert res.output.strip() == "hello from a plugin"
    cli.commands.pop("hello-world", None)


def test_plugin_commands_appear_after_a_core_only_cli_use(core_only):
    CliRunner().invoke(cli, ["--help"])  # the CLI was used before the plugin was loaded

    class Q:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("late-cmd")
            def late():
                click.echo("late")

    with registered(Q(), "q"):
        assert CliRunner().invoke(cli, ["late-cmd"]).output.strip() == "late"
    cli.commands.pop("late-cmd", None)
