"""The public surface: plugins import only ``mlgym_core`` (and ``mlgym_core.testing``), every
exported name resolves, and ``import mlgym_core`` runs no plugin code and registers nothing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlgym_core

REPO = Path(__file__).resolve().parents[1]
PUBLIC = ("mlgym_core", "mlgym_core.testing")


def _package_files() -> list[Path]:
    """Every module of every plugin package (plugins/<dist>/<package>/), tests and build folders aside."""
    out = []
    for dist in sorted((REPO / "plugins").iterdir()):
        pkg = dist / dist.name
        if pkg.is_dir():
            out += sorted(p for p in pkg.rglob("*.py") if "egg-info" not in str(p))
    return out


def _core_uses(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, module, name) for each use of mlgym_core in a module: imports and ``mlgym_core.<attr>``."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mlgym_core":
            uses += [(node.lineno, node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            uses += [(node.lineno, a.name, "") for a in node.names if a.name.split(".")[0] == "mlgym_core"]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "mlgym_core"):
            uses.append((node.lineno, "mlgym_core", node.attr))
    return uses


def test_plugin_packages_use_only_the_public_surface():
    files = _package_files()
    assert len(files) > 20  # the packs, tools, agents and runtimes are all read
    bad = []
    for path in files:
        rel = str(path.relative_to(REPO))
        for line, module, name in _core_uses(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if module not in PUBLIC:
                bad.append(f"{rel}:{line}: {module}" + (f" ({name})" if name else ""))
            elif module == "mlgym_core" and name and name not in mlgym_core.__all__:
                bad.append(f"{rel}:{line}: mlgym_core.{name} is not in mlgym_core.__all__")
    assert not bad, "plugins reach into core's internals:\n" + "\n".join(bad)


def test_the_checker_sees_internal_imports():
    code = "import mlgym_core.env\nfrom mlgym_core.registry import collect\nimport mlgym_core\nmlgym_core.shell.X\n"
    assert [(m, n) for _, m, n in _core_uses(ast.parse(code))] == [
        ("mlgym_core.env", ""), ("mlgym_core.registry", "collect"), ("mlgym_core", ""), ("mlgym_core", "shell")]


@pytest.mark.parametrize("name", sorted(set(mlgym_core.__all__)))
def test_every_exported_name_resolves(name):
    assert getattr(mlgym_core, name) is not None


def test_all_has_no_duplicates_and_core_protocols_are_public():
    assert len(mlgym_core.__all__) == len(set(mlgym_core.__all__))
    for name in ("Completion", "ModelError", "Sandbox", "Runtime", "ShellResult", "hookimpl", "load_tasks"):
        assert name in mlgym_core.__all__


IMPORT_PROBE = """
import importlib.metadata as md
import sys

import {module}
from mlgym_core import plugins

roots = sorted({{ep.value.split(":")[0].split(".")[0] for ep in md.entry_points(group="mlgym")}})
builtins = [m for m in plugins.DEFAULT_PLUGINS if m in sys.modules]
loaded = [r for r in roots if r in sys.modules]
heavy = [m for m in ("gymnasium", "numpy", "rich") if m in sys.modules]
import gymnasium
print(json.dumps({{"manager": plugins._manager is not None, "entry_point_packages": roots,
                  "loaded": loaded, "builtins": builtins, "heavy": heavy,
                  "envs": [k for k in gymnasium.registry if k.startswith("mlgym/")]}}))
"""


@pytest.mark.parametrize("module", ["mlgym_core", "mlgym_core.cli"])
def test_import_loads_no_plugin_and_registers_nothing(module):
    code = "import json\n" + IMPORT_PROBE.format(module=module)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["manager"] is False  # the plugin manager was not built
    assert got["loaded"] == [], f"plugin packages imported by 'import {module}': {got['loaded']}"
    assert got["builtins"] == []  # core's built-in plugins are not imported either
    assert got["envs"] == []
    if module == "mlgym_core":
        assert got["heavy"] == []  # gymnasium (MLGymEnv), numpy and rich load on first use
    assert r.stderr == ""


def test_gym_envs_import_registers_every_task():
    code = ("import gymnasium as gym, json, mlgym_core.gym_envs\n"
            "from mlgym_core import tasks\n"
            "gym.register_envs(mlgym_core.gym_envs)\n"
            "print(json.dumps([sorted(k for k in gym.registry if k.startswith('mlgym/')),"
            " sorted((t.plugin, t.id) for t in tasks().values())]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    envs, tasks = json.loads(r.stdout)
    if not tasks:
        pytest.skip("no task pack is installed")
    assert set(envs) == {f"mlgym/{i}" for _, i in tasks} | {f"mlgym/{p}.{i}" for p, i in tasks}
