"""`mlgym run --task <id> --agent baseline` for the three tasks, through the real CLI and sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

EXPECTED = {  # task id -> (metric, expected value, tolerance)
    "regressionKaggleHousePrice": ("r2", 0.8800, 0.005),
    "regressionKaggleHousePriceL1": ("r2", 0.8800, 0.005),
    "titanicSurvival": ("accuracy", 0.9425837320574163, 0.01),
}


@pytest.fixture(scope="module")
def runs(tabular_env, tmp_path_factory):
    """The three episodes, started together (they mostly wait on their sandboxes)."""
    procs = {}
    for task_id in sorted(EXPECTED):
        out = tmp_path_factory.mktemp(task_id)
        procs[task_id] = (out, subprocess.Popen(
            [sys.executable, "-c", "from mlgym_core.cli import main; main()", "run", "--task", task_id,
             "--agent", "baseline", "--output", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **tabular_env}))
    done = {}
    for task_id, (out, proc) in procs.items():
        text, _ = proc.communicate(timeout=400)
        done[task_id] = (out, proc.returncode, text)
    return done


@pytest.mark.parametrize("task_id", sorted(EXPECTED))
def test_baseline_run(task_id, runs):
    out, returncode, text = runs[task_id]
    assert returncode == 0, text
    (run_dir,) = out.iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] == "submitted", run
    metric, value, tol = EXPECTED[task_id]
    assert len(run["scores"]) == 2  # validate, then submit
    for scores in run["scores"]:
        assert scores[metric] == pytest.approx(value, abs=tol)
    assert run["best_score"] == pytest.approx(run["baseline"][metric], abs=tol)
    if task_id.startswith("regression"):
        assert run["scores"][-1]["rmse"] == pytest.approx(30340, rel=0.02)
        assert set(run["scores"][-1]) == {"r2", "rmse"}
    traj = json.loads((run_dir / f"{task_id}.traj").read_text())
    first = traj["trajectory"][0]
    assert "wrote submission.csv" in first["observation"]
    if task_id.endswith("L1"):  # the script ran from a here-document; it never entered the workspace
        assert first["action"].startswith("python - <<")
