"""Hand-written MLGym-format trajectories replayed with `mlgym replay` reproduce every observation,
the edited files and the scores (the evaluator is stochastic: 10,000 simulated games)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
FIXTURES = Path(__file__).parent / "fixtures"
FINAL_STRATEGY = '''"""Your strategy for the Battle of the Sexes. Edit row_strategy; keep its name and signature."""


def row_strategy(history):
    """Choose the row player's move for the next round.

    Args:
        history: list of (row_move, column_move) tuples of the rounds played so far in this game.
    Returns:
        0 or 1.
    """
    # the partner follows our first move with p=0.8: always 0 earns 2 most rounds
    return 0
'''


def replay(name, short_tmp):
    out = Path(short_tmp) / "runs"
    env = dict(os.environ, MLGYM_WORK_DIR=os.path.join(short_tmp, "w"))
    cmd = [sys.executable, "-c", "from mlgym_core.cli import main; main()", "replay", str(FIXTURES / name),
           "--task", "battleOfSexes", "--output", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    trajs = list(out.rglob("battleOfSexes.traj"))
    assert len(trajs) == 1, res.stdout + res.stderr
    run_dir = trajs[0].parent
    return json.loads(trajs[0].read_text()), json.loads((run_dir / "results.json").read_text())


def check_observations(recorded, replayed):
    assert [s["action"] for s in replayed["trajectory"]] == [s["action"] for s in recorded["trajectory"]]
    # as in MLGym's published runs: no empty line in an observation, so none before the prompt's footer
    for step in replayed["trajectory"]:
        assert not step["observation"].endswith("\n") and "\n\n" not in step["observation"]
    for item in recorded["history"]:
        if item["role"] == "user":
            assert "\n\n(Current Step:" not in item["content"] and "\n(Current Step:" in item["content"]
    for old, new in zip(recorded["trajectory"], replayed["trajectory"]):
        if old["action"] == "validate":  # the score line varies from run to run
            assert new["observation"].split("\n")[:2] == old["observation"].split("\n")[:2]
            assert new["observation"].split("\n")[2].startswith("Evaluation Score: {'Score': 1.4")
        else:
            assert new["observation"] == old["observation"], old["action"]


def test_always_zero_strategy_replays_to_expected_file_and_score(short_tmp):
    recorded = json.loads((FIXTURES / "battleOfSexes_always0.traj").read_text())
    replayed, results = replay("battleOfSexes_always0.traj", short_tmp)
    check_observations(recorded, replayed)
    cat = next(s for s in replayed["trajectory"] if s["action"] == "cat strategy.py")
    assert cat["observation"] == "\n".join(ln for ln in FINAL_STRATEGY.split("\n") if ln)  # empty lines dropped
    assert replayed["info"]["exit_status"] == "submitted"
    # opponent plays 1 in round 1, then our first move (0) with p=0.8: E = (0 + 9 * 0.8 * 2) / 10 = 1.44
    scores = [s["Score"] for s in results["agent"]]
    assert len(scores) == 2 and all(abs(s - 1.44) < 0.02 for s in scores)
    assert results["baseline"] == {"Score": pytest.approx(1.0227, abs=1e-4)}


def test_untouched_strategy_scores_the_baseline(short_tmp):
    recorded = json.loads((FIXTURES / "battleOfSexes_untouched.traj").read_text())
    replayed, results = replay("battleOfSexes_untouched.traj", short_tmp)
    check_observations(recorded, replayed)
    assert "Error: You cannot edit read-only file /home/agent/workspace/evaluate.py" in [
        s["observation"].strip() for s in replayed["trajectory"]]
    assert replayed["info"]["exit_status"] == "submitted"
    assert abs(results["agent"][-1]["Score"] - 1.0227) < 0.03
