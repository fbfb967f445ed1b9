"""A third party extends mlgym without touching core: a task pack and an agent written from the docs alone
(tests/fixtures/third_party/, plain ``from mlgym_core import ...``), built as wheels, installed into a
throwaway folder, listed, checked with ``--run``, run end to end with their model calls metered; a pack
with a typo in its task.yaml, installed beside them, changes nothing for the others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core import CheckError
from mlgym_core.testing import check_plugin

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

SOURCES = Path(__file__).parent / "fixtures" / "third_party"
PACKS = ("acme_tasks", "acme_agent", "acme_broken")
PLUGINS = ",".join(PACKS)


def _install(root: Path, site: Path, packs: tuple[str, ...]) -> None:
    """Build each pack's wheel from a copy of its source (the build leaves files behind) and install the
    wheels into ``site``, as ``pip install --target`` would for a user."""
    wheels = root / "wheels"
    for name in packs:
        src = root / "src" / name
        if not src.exists():
            shutil.copytree(SOURCES / name, src)
        if not list(wheels.glob(f"acme_mlgym_{name.removeprefix('acme_')}-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), str(src)], check=True, capture_output=True, timeout=300)
    whls = [str(w) for n in packs for w in wheels.glob(f"acme_mlgym_{n.removeprefix('acme_')}-*.whl")]
    assert len(whls) == len(packs), whls
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *whls],
                   check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("third_party")
    _install(root, root / "site", PACKS)
    return root


def python(root: Path, *args: str, site: str = "site") -> subprocess.CompletedProcess:
    """``python ARGS`` with the wheels of ``root/site`` installed (and only the acme plugins loaded)."""
    env = {k: v for k, v in os.environ.items() if k != "MLGYM_STRICT_PLUGINS"}  # a user's default
    env.update(PYTHONPATH=str(root / site), MLGYM_LOAD_PLUGINS=PLUGINS, MLGYM_HOME=str(root / "home"))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=root, timeout=300)


def mlgym(root: Path, *args: str, site: str = "site") -> subprocess.CompletedProcess:
    """``mlgym ARGS`` as the user would run it."""
    return python(root, "-m", "mlgym_core", *args, site=site)


def test_listed_with_the_broken_pack_marked(installed):
    res = mlgym(installed, "list-plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert (rows["acme_tasks"]["status"], rows["acme_tasks"]["provides"]) == ("ok", {"tasks": 1})
    assert (rows["acme_agent"]["status"], rows["acme_agent"]["provides"]) == ("ok", {"agents": 1})
    assert rows["acme_tasks"]["distribution"] == "acme-mlgym-tasks" and rows["acme_tasks"]["version"] == "1.0.0"
    broken = rows["acme_broken"]
    assert broken["status"] == "error" and broken["provides"] == {}
    assert "acmeBroken/task.yaml" in broken["error"] and "'hiden_files': unknown key" in broken["error"]


def test_conformance_through_the_installed_entry_points(installed, monkeypatch, core_only):
    monkeypatch.syspath_prepend(str(installed / "site"))
    assert check_plugin("acme_tasks").items == {"tasks": ["acmeGuess"]}
    assert check_plugin("acme_agent", heavy=("acme_agent.agent",)).items == {"agents": ["one-line"]}
    with pytest.raises(CheckError, match=r"plugin 'acme_broken' \(acme-mlgym-broken\): .*acmeBroken/task.yaml: "
                                         r"field 'hiden_files': unknown key"):
        check_plugin("acme_broken")


def test_check_run_passes_for_their_task_and_reports_the_broken_pack(installed):
    res = mlgym(installed, "check", "--run", "acmeGuess")
    assert res.returncode == 0, res.stdout + res.stderr
    row = next(ln for ln in res.stdout.splitlines() if "acme_tasks/acmeGuess" in ln)
    assert row.split()[1:4] == ["full", "ok", "Error"] and "all checks passed" in res.stdout
    everything = mlgym(installed, "check")
    assert everything.returncode == 1
    fails = [ln for ln in everything.stderr.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and "plugin 'acme_broken'" in fails[0] and "hiden_files" in fails[0]


def _run(root: Path, name: str, replies: list, *extra: str) -> dict:
    (root / f"{name}.json").write_text(json.dumps(replies))
    res = mlgym(root, "run", "--task", "acmeGuess", "--agent", "one-line", "--model", f"scripted:{name}.json",
                "--output", name, *extra)
    assert res.returncode == 0, res.stderr
    (run_json,) = (root / name).rglob("run.json")
    return json.loads(run_json.read_text())


def test_their_agent_runs_their_task_end_to_end_metered(installed):
    replies = [{"content": c, "cost": 0.25} for c in ("echo 7 > answer.txt", "validate", "submit")]
    run = _run(installed, "good", replies)
    assert (run["task"]["plugin"], run["task"]["plugin_version"], run["agent"]) == (
        "acme_tasks", "1.0.0", "acme_agent/one-line")
    assert run["exit_status"] == "submitted" and run["scores"][-1] == {"Error": 0.0}  # the secret is 7
    # core metered the agent's three model calls; the agent counts nothing itself
    cost = run["cost"]
    assert (cost["api_calls"], cost["total_cost"], cost["tokens_received"]) == (3, 0.75, 6)
    assert cost["tokens_sent"] > 0


def test_their_agent_is_held_to_the_cost_limit(installed):
    run = _run(installed, "costly", [{"content": "echo 7 > answer.txt", "cost": 0.6}] * 5, "--cost-limit", "1")
    assert run["exit_status"] == "autosubmission (exit_cost)"
    assert run["cost"]["api_calls"] == 2 and run["cost"]["total_cost"] == 1.2  # the second call crossed it


def test_the_broken_pack_changes_nothing_for_the_others(installed):
    _install(installed, installed / "site_ok", ("acme_tasks", "acme_agent"))
    for args in (("list", "tasks", "--json"), ("list", "agents", "--json")):
        with_broken, without = mlgym(installed, *args), mlgym(installed, *args, site="site_ok")
        assert with_broken.returncode == without.returncode == 0, with_broken.stderr
        assert json.loads(with_broken.stdout) == json.loads(without.stdout)
        assert "acme_broken" not in without.stderr
    assert "hiden_files" in mlgym(installed, "list", "tasks").stderr  # said once, in one line per command
    out = python(installed, "-c", "import json, gymnasium as gym, mlgym_core.gym_envs; "
                 "print(json.dumps(sorted(e for e in gym.registry if e.startswith('mlgym/'))))")
    assert out.returncode == 0, out.stderr
    assert "mlgym/acmeGuess" in json.loads(out.stdout.strip().splitlines()[-1])  # gymnasium too


def test_a_wheel_built_without_its_package_data_is_caught(installed):
    """The classic packaging slip: no [tool.setuptools.package-data], so the wheel holds plugin.py and no
    task.yaml. It loads and lists as ok, registers nothing, and `mlgym check` says so."""
    src = installed / "src" / "acme_nodata"
    shutil.copytree(SOURCES / "acme_tasks", src)
    project = src / "pyproject.toml"
    project.write_text(project.read_text().replace("acme-mlgym-tasks", "acme-mlgym-nodata")
                       .split("[tool.setuptools.package-data]")[0])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(installed / "nodata"), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (installed / "nodata").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(installed / "site_nodata"), str(wheel)], check=True, capture_output=True, timeout=300)
    rows = {r["name"]: r for r in json.loads(mlgym(installed, "list-plugins", "--json", site="site_nodata").stdout)}
    assert rows["acme_tasks"]["status"] == "ok" and rows["acme_tasks"]["provides"] == {}
    res = mlgym(installed, "check", site="site_nodata")
    assert res.returncode == 1
    assert ("FAIL plugin 'acme_tasks' (acme-mlgym-nodata 1.0.0): register_tasks() registered no tasks (are its "
            "task.yaml files shipped as package data?)") in res.stderr
