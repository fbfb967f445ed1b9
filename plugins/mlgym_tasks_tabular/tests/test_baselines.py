"""`mlgym run --task <id> --agent baseline` for the three tasks, through the real CLI and sandbox: on the
synthetic ``smoke`` data everywhere, and on Kaggle's files when ``$MLGYM_DATA_DIR`` holds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from .conftest import needs_real_data

SMOKE_R2 = 0.7016875204959141  # measured: ridge on 350 synthetic rows, scored on 100
SMOKE_ACCURACY = 0.7416666666666667  # measured: logistic regression, 300 synthetic passengers, 120 scored
EXPECTED = {  # (task id, scale) -> (metric, expected value, tolerance)
    ("regressionKaggleHousePrice", "full"): ("r2", 0.8800, 0.005),
    ("regressionKaggleHousePriceL1", "full"): ("r2", 0.8800, 0.005),
    ("titanicSurvival", "full"): ("accuracy", 0.9425837320574163, 0.01),
    ("regressionKaggleHousePrice", "smoke"): ("r2", SMOKE_R2, 0.005),
    ("regressionKaggleHousePriceL1", "smoke"): ("r2", SMOKE_R2, 0.005),
    ("titanicSurvival", "smoke"): ("accuracy", SMOKE_ACCURACY, 0.01),
}
CASES = [pytest.param(t, s, marks=[needs_real_data] if s == "full" else [], id=f"{t}-{s}")
         for t, s in sorted(EXPECTED)]


def _start(task_id, scale, out, env):
    return subprocess.Popen(
        [sys.executable, "-c", "from mlgym_core.cli import main; main()", "run", "--task", task_id,
         "--agent", "baseline", "--scale", scale, "--output", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


@pytest.fixture(scope="module")
def runs(tabular_env, tmp_path_factory):
    """The episodes of one scale, started together (they mostly wait on their sandboxes); filled on demand."""
    done: dict[tuple[str, str], tuple] = {}

    def get(task_id, scale):
        if (task_id, scale) not in done:
            procs = {t: (tmp_path_factory.mktemp(f"{t}-{scale}"), None) for t, s in EXPECTED if s == scale}
            procs = {t: (out, _start(t, scale, out, tabular_env)) for t, (out, _) in procs.items()}
            for t, (out, proc) in procs.items():
                text, _ = proc.communicate(timeout=400)
                done[(t, scale)] = (out, proc.returncode, text)
        return done[(task_id, scale)]

    return get


@pytest.mark.parametrize("task_id,scale", CASES)
def test_baseline_run(task_id, scale, runs):
    out, returncode, text = runs(task_id, scale)
    assert returncode == 0, text
    (run_dir,) = out.iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] == "submitted", run
    metric, value, tol = EXPECTED[(task_id, scale)]
    assert len(run["scores"]) == 2  # validate, then submit
    for scores in run["scores"]:
        assert scores[metric] == pytest.approx(value, abs=tol)
    if scale == "full":
        assert run["best_score"] == pytest.approx(run["baseline"][metric], abs=tol)
        if task_id.startswith("regression"):
            assert run["scores"][-1]["rmse"] == pytest.approx(30340, rel=0.02)
    if task_id.startswith("regression"):
        assert set(run["scores"][-1]) == {"r2", "rmse"}
    traj = json.loads((run_dir / f"{task_id}.traj").read_text())
    first = traj["trajectory"][0]
    assert "wrote submission.csv" in first["observation"]
    if task_id.endswith("L1"):  # the script ran from a here-document; it never entered the workspace
        assert first["action"].startswith("python - <<")
