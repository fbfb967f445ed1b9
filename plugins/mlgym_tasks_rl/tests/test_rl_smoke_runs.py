"""Every RL task at smoke scale, in a real episode: train (CPU JAX), then score the checkpoints.

One task runs `mlgym run --agent baseline` (train, validate, submit: the same checkpoints score the same
twice); the others, which share its grader, train and submit through `mlgym replay` of those two actions,
which saves a grading (6-8 s of a JAX rollout) each.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from mlgym_core import get_task

MLGYM = [sys.executable, "-m", "mlgym_core"]
# Scores of uniform random actions under the evaluation protocol (5 x 5 x 256 episodes), measured
# with rlgrader.rollout_returns; the MountainCar figure is also checked in test_rl_grader.py.
RANDOM = {"rlMountainCarContinuous": -6.67, "rlBreakoutMinAtar": 0.41}
VALIDATED = "rlMountainCarContinuous"


def run_smoke(task_id: str, tmp_path) -> dict:
    out = tmp_path / "runs"
    if task_id == VALIDATED:
        how = ["run", "--agent", "baseline"]
    else:
        traj = tmp_path / "train-submit.traj"
        train = get_task(task_id).baseline_command
        traj.write_text(json.dumps({"trajectory": [{"action": train}, {"action": "submit"}]}))
        how = ["replay", str(traj)]
    res = subprocess.run([*MLGYM, *how, "--task", task_id, "--scale", "smoke", "--output", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    [run_json] = list(out.glob("*/run.json"))
    return json.loads(run_json.read_text())


@pytest.mark.parametrize("task_id", ["rlMountainCarContinuous", "rlMetaMazeMisc", "rlBreakoutMinAtar",
                                     "rlMountainCarContinuousReinforce"])
def test_smoke_baseline_trains_and_is_scored(task_id, tmp_path):
    record = run_smoke(task_id, tmp_path)
    assert record["exit_status"] == "submitted", record
    scores = record["scores"]
    if task_id == VALIDATED:
        assert len(scores) == 2 and scores[0] == scores[1]  # validate and submit: same checkpoints, same score
    else:
        assert len(scores) == 1
    mean, std = scores[-1]["Reward Mean"], scores[-1]["Reward Std"]
    assert math.isfinite(mean) and math.isfinite(std) and std >= 0
    if task_id in RANDOM:  # the smoke-trained agents beat a random policy
        assert mean > RANDOM[task_id] + 2.0, (task_id, mean)
    if task_id == "rlMetaMazeMisc":
        assert mean >= 0  # rewards are 0 or +10
    if task_id == "rlMountainCarContinuousReinforce":
        assert mean < RANDOM["rlMountainCarContinuous"]  # plain REINFORCE diverges to huge actions
