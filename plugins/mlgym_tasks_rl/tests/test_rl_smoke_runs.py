"""`mlgym run --agent baseline --scale smoke` for every RL task: train (CPU JAX), validate, submit."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

MLGYM = [sys.executable, "-m", "mlgym_core"]
# Scores of uniform random actions under the evaluation protocol (5 x 5 x 256 episodes), measured
# with rlgrader.rollout_returns; the MountainCar figure is also checked in test_rl_grader.py.
RANDOM = {"rlMountainCarContinuous": -6.67, "rlBreakoutMinAtar": 0.41}


def run_baseline(task_id: str, out) -> dict:
    res = subprocess.run([*MLGYM, "run", "--task", task_id, "--agent", "baseline", "--scale", "smoke",
                          "--output", str(out)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    [run_json] = list(out.glob("*/run.json"))
    return json.loads(run_json.read_text())


@pytest.mark.parametrize("task_id", ["rlMountainCarContinuous", "rlMetaMazeMisc", "rlBreakoutMinAtar",
                                     "rlMountainCarContinuousReinforce"])
def test_smoke_baseline_trains_and_is_scored(task_id, tmp_path):
    record = run_baseline(task_id, tmp_path)
    assert record["exit_status"] == "submitted", record
    scores = record["scores"]
    assert len(scores) == 2 and scores[0] == scores[1]  # validate and submit: same checkpoints, same score
    mean, std = scores[-1]["Reward Mean"], scores[-1]["Reward Std"]
    assert math.isfinite(mean) and math.isfinite(std) and std >= 0
    if task_id in RANDOM:  # the smoke-trained agents beat a random policy
        assert mean > RANDOM[task_id] + 2.0, (task_id, mean)
    if task_id == "rlMetaMazeMisc":
        assert mean >= 0  # rewards are 0 or +10
    if task_id == "rlMountainCarContinuousReinforce":
        assert mean < RANDOM["rlMountainCarContinuous"]  # plain REINFORCE diverges to huge actions
