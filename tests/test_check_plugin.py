"""check_plugin: a plugin loaded through its real entry point, as `mlgym` loads it (installed here as a
distribution folder on sys.path), and the fixture task core ships for tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core import CheckError
from mlgym_core.testing import FIXTURE_TASK_ID, check_plugin, fixture_env, fixture_task

PLUGIN = """
from importlib.resources import files

from mlgym_core import ToolSpec, hookimpl, load_tasks
{extra}

@hookimpl
def register_tasks():
    return load_tasks(files(__package__) / "tasks")


@hookimpl
def register_tools():
    return [ToolSpec(name="hello", signature="hello", docstring="says hello", source=files(__package__) / "{tool}")]
"""


def _install(root: Path, name: str, *, extra: str = "", tool: str = "hello.sh", with_yaml: bool = True) -> None:
    """A distribution ``name`` installed into ``root`` (a package and its dist-info)."""
    pkg = root / name
    task = pkg / "tasks" / "oneTask"
    task.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(PLUGIN.format(extra=extra, tool=tool))
    (pkg / "hello.sh").write_text("hello() { echo hello; }\n")
    shutil.copytree(Path(__file__).parents[1] / "mlgym_core" / "data" / "fixture_tasks" / FIXTURE_TASK_ID, task,
                    dirs_exist_ok=True)
    (task / "task.yaml").write_text((task / "task.yaml").read_text().replace(FIXTURE_TASK_ID, "oneTask"))
    if not with_yaml:
        (task / "task.yaml").unlink()
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mlgym]\n{name} = {name}.plugin\n")


@pytest.fixture
def site(tmp_path, monkeypatch, core_only):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_good_plugin_passes_by_name_and_by_module(site):
    _install(site, "pack_good")
    report = check_plugin("pack_good")
    assert (report.distribution, report.version, report.items) == (
        "pack-good", "1.0", {"tasks": ["oneTask"], "tools": ["hello"]})
    import pack_good.plugin

    assert check_plugin(pack_good.plugin).provides == {"tasks": 1, "tools": 1}


def test_pack_without_its_yaml_fails(site):
    _install(site, "pack_noyaml", with_yaml=False)
    with pytest.raises(CheckError, match=r"plugin 'pack_noyaml' \(pack-noyaml\): register_tasks\(\) registered no "
                                         r"tasks \(are its task folders, task.yaml included, shipped as package"):
        check_plugin("pack_noyaml")


def test_missing_tool_file_fails(site):
    _install(site, "pack_notool", tool="gone.sh")
    with pytest.raises(CheckError, match=r"tool 'pack_notool/hello': file 'gone.sh' is missing"):
        check_plugin("pack_notool")


def test_plugin_that_does_not_import_fails(site):
    _install(site, "pack_broken", extra="import no_such_module_here")
    with pytest.raises(CheckError, match=r"plugin 'pack_broken' \(pack-broken\): does not load: "
                                         r"ModuleNotFoundError: No module named 'no_such_module_here'"):
        check_plugin("pack_broken")


def test_heavy_import_at_registration_fails(site):
    _install(site, "pack_heavy", extra="import sqlite3  # noqa")
    with pytest.raises(CheckError, match=r"importing pack_heavy.plugin and calling its hooks imports sqlite3"):
        check_plugin("pack_heavy", heavy=("sqlite3", "decimal"))


def test_unknown_plugin_fails(site):
    with pytest.raises(CheckError, match=r"no installed distribution declares an entry point for 'nope'"):
        check_plugin("nope")


def test_fixture_task_without_any_pack(core_only):
    with fixture_task() as spec:
        assert spec.qualified == f"fixture/{FIXTURE_TASK_ID}" and spec.baseline_scores == {"Score": 98.0}


def test_fixture_plugin_in_a_subprocess(tmp_path):
    env = fixture_env(tmp_path / "site", {"PATH": "/usr/bin:/bin", "MLGYM_LOAD_PLUGINS": ""})
    assert env["MLGYM_LOAD_PLUGINS"] == "fixture"
    out = subprocess.run([sys.executable, "-m", "mlgym_core", "list", "tasks"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert FIXTURE_TASK_ID in out.stdout and len(out.stdout.strip().splitlines()) == 2  # header + the task


@pytest.mark.parametrize("strict", ["1", "0"])
def test_pack_with_a_typo_in_its_yaml_fails_in_either_mode(site, monkeypatch, strict):
    monkeypatch.setenv("MLGYM_STRICT_PLUGINS", strict)
    _install(site, f"pack_typo{strict}")
    yaml = site / f"pack_typo{strict}" / "tasks" / "oneTask" / "task.yaml"
    yaml.write_text(yaml.read_text().replace("hidden_files", "hiden_files"))
    with pytest.raises(CheckError, match=r"oneTask/task.yaml: field 'hiden_files': unknown key$"):
        check_plugin(f"pack_typo{strict}")


def test_agent_tool_groups_must_be_installed_but_the_aci(core_only):
    from mlgym_core import AgentSpec
    from mlgym_core.checks import check_agent

    check_agent(AgentSpec(name="plain", description="d", factory=dict))  # core + the ACI: runs with a warning
    with pytest.raises(CheckError, match=r"agent 'wants': asks for tool group\(s\) memory, which no installed "
                                         r"plugin provides \(installed: core\)"):
        check_agent(AgentSpec(name="wants", description="d", factory=dict, tool_groups=("core", "memory")))
