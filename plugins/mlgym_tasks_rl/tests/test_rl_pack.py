"""The RL pack as a plugin: its hook, conformance, scales and workspace layout (no training here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from mlgym_core import MlgymError
from mlgym_core.checks import check_task
from mlgym_core.task import make_task

from mlgym_tasks_rl import plugin

MLGYM = [sys.executable, "-m", "mlgym_core"]
IDS = ["rlBreakoutMinAtar", "rlMetaMazeMisc", "rlMountainCarContinuous", "rlMountainCarContinuousReinforce"]
ENVS = {"rlBreakoutMinAtar": "Breakout-MinAtar", "rlMetaMazeMisc": "MetaMaze-misc",
        "rlMountainCarContinuous": "MountainCarContinuous-v0",
        "rlMountainCarContinuousReinforce": "MountainCarContinuous-v0"}
REFERENCE = {"rlBreakoutMinAtar": 48.81718826293945, "rlMetaMazeMisc": 15.734375,
             "rlMountainCarContinuous": 33.793758392333984, "rlMountainCarContinuousReinforce": -24936834.0}


def specs():
    return {s.id: s for s in plugin.register_tasks()}


def test_hook_returns_the_four_tasks_with_reference_baselines():
    got = specs()
    assert sorted(got) == IDS
    for tid, s in got.items():
        assert s.metric == "Reward Mean" and s.higher_is_better and s.submission == "model"
        assert s.baseline_scores["Reward Mean"] == pytest.approx(REFERENCE[tid])
        assert s.evaluate_args == "--config_fname config.yaml"  # a fixed name, not the first YAML found
        assert set(s.scales) == {"smoke", "full"}


@pytest.mark.parametrize("tid", IDS)
def test_conformance(tid):
    check_task(specs()[tid])


def test_plugin_module_does_not_import_jax():
    code = ("import sys, mlgym_tasks_rl.plugin as p; p.register_tasks(); "
            "bad = [m for m in ('jax', 'gymnax', 'flax', 'optax') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_listed_and_checked_by_the_cli():
    out = subprocess.run([*MLGYM, "list-plugins", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["tasks_rl"]["status"] == "ok"
    res = subprocess.run([*MLGYM, "check", *IDS], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("tid", IDS)
@pytest.mark.parametrize("scale", ["smoke", "full"])
def test_scale_selects_the_workspace_config(tid, scale, tmp_path):
    task = make_task(specs()[tid], scale)
    try:
        task.layout_workspace(tmp_path)
    finally:
        task.close()
    for name in ("train.py", "policy.py", "networks.py", "helpers.py", "__init__.py", "config.yaml"):
        assert (tmp_path / "src" / name).is_file(), name
    assert (tmp_path / "evaluate.py").is_file() and (tmp_path / "rlgrader.py").is_file()
    cfg = yaml.safe_load((tmp_path / "src" / "config.yaml").read_text())["train_config"]
    assert cfg["env_name"] == ENVS[tid]
    if scale == "full":  # the reference configurations
        assert cfg["num_train_steps"] >= 10_000_000 and cfg["network_config"]["num_hidden_units"] == 256
    else:
        assert cfg["num_train_steps"] <= 300_000
    policy = (tmp_path / "src" / "policy.py").read_text()
    if tid.endswith("Reinforce"):
        assert "reinforce_loss" in policy and "clip_eps" not in policy
    else:
        assert "ppo_loss" in policy


def test_full_configs_match_the_reference_highlights():
    task = make_task(specs()["rlMountainCarContinuous"], "full")
    try:
        path = task.common() / "configs" / "rlMountainCarContinuous.full.yaml"
    finally:
        task.close()
    cfg = yaml.safe_load(path.read_text())["train_config"]
    got = (cfg["num_train_steps"], cfg["num_train_envs"], cfg["n_steps"], cfg["n_minibatch"])
    assert got == (20_000_000, 256, 256, 8)
    assert (cfg["lr_begin"], cfg["lr_end"], cfg["lr_warmup"], cfg["gae_lambda"]) == (6e-4, 5e-4, 0.03, 0.99)
    assert cfg["network_config"] == {"num_hidden_units": 256, "num_hidden_layers": 4}


def test_unknown_scale_is_refused():
    with pytest.raises(MlgymError, match="no scale 'huge'"):
        make_task(specs()["rlMetaMazeMisc"], "huge")


def test_layout_command_writes_a_standalone_workspace(tmp_path, capsys):
    from mlgym_tasks_rl import layout

    ws = tmp_path / "ws"
    assert layout.main(["rlBreakoutMinAtar", "full", str(ws)]) == 0
    cfg = yaml.safe_load((ws / "src" / "config.yaml").read_text())["train_config"]
    assert cfg["env_name"] == "Breakout-MinAtar" and cfg["num_train_steps"] == 10_000_000
    assert layout.main(["rlBreakoutMinAtar", "smoke", str(ws)]) == 2  # never over an existing workspace
    assert "is not empty" in capsys.readouterr().err
    assert layout.main(["battleOfSexes", "full", str(tmp_path / "other")]) == 2
