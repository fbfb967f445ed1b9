"""Plugin contract v2, loading: errors stay inside the plugin that made them, and importing a
plugin module never builds the plugin manager half-way.

Third-party packs here are real distributions (a package and a dist-info folder with an entry
point, on PYTHONPATH of a subprocess), next to whatever real packs are installed:
``goodpack`` (one task), ``typopack`` (a ``task.yaml`` with the typo ``hiden_files``, plus a valid
dataset that must vanish with it), ``hookpack`` (``register_tools`` raises), and ``earlypack``
(its module asks the registry for tasks while it is being imported, before its hooks exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from mlgym_core import AgentSpec, PluginSpecError, hookimpl, load_tasks
from mlgym_core.plugins import plugin_manager
from mlgym_core.registry import collect
from mlgym_core.testing import FakeEntryPoint, fake_entry_points

GOOD_TASK = """\
id: goodTask
name: Good task
description: "Write 7 into answer.txt. SUBMISSION FORMAT: answer.txt holding one number."
submission: csv
metric: score
baseline_scores: {score: 1.0}
baseline_command: echo 7 > answer.txt
starter_files: [evaluate.py]
read_only: [evaluate.py]
artifacts: [answer.txt]
required_artifacts: [answer.txt]
training_timeout: 60
"""
EVALUATE = 'import json\nprint(json.dumps({"score": float(open("answer.txt").read().strip() == "7")}))\n'
TYPO_TASK = GOOD_TASK.replace("goodTask", "typoTask") + "hiden_files: [secret.txt]\n"
DATASET = "id: typoData\nname: Typo data\ndescription: A dataset of the broken pack.\nsource: local\n"

PACK_PLUGIN = """\
from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks


@hookimpl
def register_tasks():
    return load_tasks(files(__package__) / "tasks", plugin="{name}")


@hookimpl
def register_datasets():
    return load_datasets(files(__package__) / "datasets", plugin="{name}")
"""
HOOK_PLUGIN = """\
from mlgym_core import hookimpl


@hookimpl
def register_tools():
    raise RuntimeError("tool scripts not found")
"""
EARLY_PLUGIN = """\
import mlgym_core
from mlgym_core import hookimpl

SEEN = len(mlgym_core.tasks())  # plugin code at its own import: the manager must not take this half module


@hookimpl
def register_tasks():
    return []
"""


def _dist(site: Path, name: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = site / f"mlgym_{name}" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    info = site / f"mlgym_{name}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mlgym-{name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[mlgym]\n{name} = mlgym_{name}.plugin\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    _dist(root, "goodpack", {"__init__.py": "", "plugin.py": PACK_PLUGIN.format(name="goodpack"),
                             "tasks/goodTask/task.yaml": GOOD_TASK, "tasks/goodTask/evaluate.py": EVALUATE,
                             "datasets/.keep": ""})
    _dist(root, "typopack", {"__init__.py": "", "plugin.py": PACK_PLUGIN.format(name="typopack"),
                             "tasks/typoTask/task.yaml": TYPO_TASK, "tasks/typoTask/evaluate.py": EVALUATE,
                             "datasets/typoData.yaml": DATASET})
    _dist(root, "hookpack", {"__init__.py": "", "plugin.py": HOOK_PLUGIN})
    _dist(root, "earlypack", {"__init__.py": "", "plugin.py": EARLY_PLUGIN})
    return root


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLGYM_LOAD_PLUGINS", "MLGYM_DISABLE_PLUGINS", "MLGYM_STRICT_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, **extra}


def mlgym(site: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlgym_core", *args], capture_output=True, text=True,
                          timeout=300, env=_env(site, **extra))


def python(site: Path, code: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=_env(site, **extra))


def test_list_plugins_shows_each_broken_pack_with_one_line_and_no_items(site):
    r = mlgym(site, "list-plugins", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["goodpack"]["status"] == "ok" and rows["goodpack"]["provides"] == {"tasks": 1}
    typo = rows["typopack"]
    assert typo["status"] == "error" and typo["provides"] == {}  # its valid dataset went with it
    assert "register_tasks()" in typo["error"] and "typoTask/task.yaml" in typo["error"]
    assert "hiden_files" in typo["error"] and "\n" not in typo["error"]
    hook = rows["hookpack"]
    assert hook["status"] == "error" and "register_tools(): RuntimeError: tool scripts not found" in hook["error"]
    for name, row in rows.items():  # every installed real pack is untouched
        if name not in ("typopack", "hookpack"):
            assert row["status"] == "ok", row
    assert r.stderr.count("skipped plugin 'typopack'") == 1  # one warning line, not one per collect
    table = mlgym(site, "list-plugins", COLUMNS="1000").stdout
    assert "typopack" in table and "error: failed in register_tasks(): DescriptorError:" in table


def test_list_tasks_and_gym_registration_skip_only_the_broken_pack(site):
    r = mlgym(site, "list", "tasks", "--json")
    assert r.returncode == 0, r.stderr
    ids = {t["id"] for t in json.loads(r.stdout)}
    assert "goodTask" in ids and "typoTask" not in ids
    alone = mlgym(site, "list", "tasks", "--json", MLGYM_DISABLE_PLUGINS="typopack,hookpack")
    assert ids == {t["id"] for t in json.loads(alone.stdout)}  # the broken packs change nothing for the others
    g = python(site, """
        import gymnasium as gym
        import mlgym_core.gym_envs
        gym.register_envs(mlgym_core.gym_envs)
        print(sorted(k for k in gym.registry if k.startswith("mlgym/")))
    """)
    assert g.returncode == 0, g.stderr
    envs = set(eval(g.stdout))
    assert {"mlgym/goodTask", "mlgym/goodpack.goodTask"} <= envs
    assert not any("typoTask" in e for e in envs)


def test_run_and_bench_of_an_unrelated_task_work(site, tmp_path):
    r = mlgym(site, "run", "--task", "goodTask", "--agent", "baseline", "--output", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["task"]["plugin"] == "goodpack" and run["scores"][-1]["score"] == 1.0
    b = mlgym(site, "bench", "--tasks", "goodTask", "--agents", "baseline", "--runs", "1", "--output",
              str(tmp_path / "bench"), "--no-progress", "--no-report")
    assert b.returncode == 0, b.stderr
    ledger = json.loads((tmp_path / "bench" / "ledger.json").read_text())
    assert "goodTask" in json.dumps(ledger)


def test_a_task_of_the_broken_pack_is_unknown_and_the_error_says_which_plugins_failed(site, tmp_path):
    r = mlgym(site, "run", "--task", "typoTask", "--agent", "baseline", "--output", str(tmp_path))
    assert r.returncode == 2
    assert "No task 'typoTask'." in r.stderr
    assert "Plugins that failed (see mlgym list-plugins): typopack." in r.stderr  # those asked so far


def test_strict_mode_raises_naming_the_broken_plugin(site):
    r = mlgym(site, "list", "tasks", MLGYM_STRICT_PLUGINS="1", MLGYM_DISABLE_PLUGINS="hookpack,earlypack")
    assert r.returncode != 0
    assert "plugin 'typopack' failed in register_tasks()" in r.stderr and "hiden_files" in r.stderr


def test_importing_a_plugin_module_first_registers_it_whole(site):
    """Before v2, ``import mlgym_tasks_cv.plugin`` ran core's import, which loaded every plugin,
    this half-imported module included: list-plugins showed ``tasks_cv ok []``."""
    mods = ["mlgym_goodpack.plugin"]
    mods += [m for m in ("mlgym_tasks_cv.plugin", "mlgym_agents.plugin") if _importable(m)]
    for mod in mods:
        r = python(site, f"""
            import {mod}
            import sys
            from mlgym_core.plugins import _manager, list_plugins
            assert _manager is None, "importing a plugin module built the plugin manager"
            print({{r.name: (r.status, r.hooks) for r in list_plugins()}})
        """, MLGYM_DISABLE_PLUGINS="hookpack,earlypack,typopack")
        assert r.returncode == 0, r.stderr
        recs = eval(r.stdout)
        name = mod.split(".")[0].removeprefix("mlgym_")
        assert recs[name][0] == "ok" and recs[name][1], (mod, recs[name])


def test_a_plugin_module_that_builds_the_manager_at_its_import_is_an_error_not_half_registered(site):
    r = python(site, """
        import mlgym_earlypack.plugin
        from mlgym_core.plugins import list_plugins
        print({r.name: (r.status, r.error) for r in list_plugins()})
    """, MLGYM_DISABLE_PLUGINS="hookpack,typopack")
    assert r.returncode == 0, r.stderr
    status, error = eval(r.stdout)["earlypack"]
    assert status == "error" and "module 'mlgym_earlypack.plugin' is still being imported" in error
    assert "skipped plugin 'earlypack'" in r.stderr


def _importable(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod.split(".")[0]) is not None


# in-process, with fake entry points (no subprocess): the registry's own behaviour


def _module(name: str, **hooks) -> types.ModuleType:
    m = types.ModuleType(name)
    for k, v in hooks.items():
        setattr(m, k, hookimpl(v))
    return m


def test_a_plugin_failing_in_one_hook_gives_nothing_of_any_kind(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MLGYM_STRICT_PLUGINS", raising=False)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "task.yaml").write_text(TYPO_TASK)
    half = _module("half", register_agents=lambda: [AgentSpec(name="halfagent", description="d", factory=dict)],
                   register_tasks=lambda: load_tasks(tmp_path))
    fine = _module("fine", register_agents=lambda: [AgentSpec(name="fineagent", description="d", factory=dict)])
    with fake_entry_points(monkeypatch, FakeEntryPoint("half", half), FakeEntryPoint("fine", fine)):
        names = {a.name for a in collect("agents")}  # agents first: the tasks hook fails later
        assert "fineagent" in names and "halfagent" not in names
        assert all(t.plugin != "half" for t in collect("tasks"))
        rec = plugin_manager().records["half"]
        assert rec.status == "error" and "hiden_files" in rec.error
    assert capsys.readouterr().err.count("skipped plugin 'half'") == 1


def test_strict_mode_in_process_raises_plugin_spec_error(monkeypatch):
    monkeypatch.setenv("MLGYM_STRICT_PLUGINS", "1")
    boom = _module("boom", register_metrics=lambda: 1 / 0)
    with fake_entry_points(monkeypatch, FakeEntryPoint("boom", boom)):
        with pytest.raises(PluginSpecError, match=r"plugin 'boom' failed in register_metrics\(\): ZeroDivisionError"):
            collect("metrics")
