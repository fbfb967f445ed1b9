"""`mlgym run` / `mlgym replay` end to end: run records, replay, --workspace-from, killed runs,
and a third-party task pack installed with pip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgym_core.records import RunRecord, split_status
from mlgym_core.registry import get_task

from .conftest import REPO, needs_games

FIXTURES = Path(__file__).parent / "fixtures"
TRAJ_STEP_KEYS = {"action", "observation", "response", "state", "thought", "execution_time"}


def mlgym(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "mlgym_core", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def only_run_dir(out: Path) -> Path:
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    return d


def check_records(run_dir: Path, task: str) -> tuple[dict, dict, dict]:
    traj = json.loads((run_dir / f"{task}.traj").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    assert traj["environment"] == "mlgym_main"
    assert set(traj) == {"environment", "trajectory", "history", "info"}
    assert set(traj["info"]) == {"model_stats", "exit_status", "submission", "score", "summarizer"}
    assert set(traj["info"]["model_stats"]) == {"total_cost", "task_cost", "tokens_sent", "tokens_received",
                                                "api_calls"}
    for st in traj["trajectory"]:
        assert set(st) == TRAJ_STEP_KEYS
    assert set(results) == {"agent", "baseline"} and results["agent"] == traj["info"]["score"]
    assert run["schema"] == "mlgym-run/2" and run["task"]["id"] == task
    # the trajectory keeps MLGym's status string; run.json its constant, the error text apart
    assert run["exit_status"] == split_status(traj["info"]["exit_status"])[0] and run["scores"] == results["agent"]
    for key in ("runtime", "isolation", "seed", "timings", "cost", "versions", "spec", "method", "error"):
        assert key in run
    # resolved values: the scale that ran and its baseline, the step budget and timeouts the environment used
    spec = get_task(task)
    assert run["scale"] in spec.scales and run["baseline"] == spec.baseline_for(run["scale"]) == results["baseline"]
    assert run["max_steps"] >= 1 and run["short_timeout"] > 0 and run["training_timeout"] > 0
    assert RunRecord.read(run_dir / "run.json").to_json() == run  # the typed record reads back what it wrote
    return traj, results, run


@needs_games
@pytest.mark.parametrize("task, lo, hi", [
    ("battleOfSexes", 0.97, 1.08), ("prisonersDilemma", 2.31, 2.43), ("blotto", -0.29, -0.20)])
def test_baseline_agent_reproduces_game_baselines(tmp_runs, task, lo, hi):
    r = mlgym("run", "--task", task, "--agent", "baseline", "--output", str(tmp_runs))
    assert r.returncode == 0, r.stderr
    assert "submitted" in r.stdout and "run dir" in r.stdout
    _, results, run = check_records(only_run_dir(tmp_runs), task)
    assert run["exit_status"] == "submitted" and run["isolation"] in ("bwrap", "none")
    assert len(results["agent"]) == 2
    for s in results["agent"]:
        assert lo < s["Score"] < hi


@needs_games
def test_3sat_baseline_is_correct_and_timed(tmp_runs, tmp_path):
    # the starter heuristic submitted as it is (one grading of the 100 formulas, not the baseline agent's
    # validate and submit: the games' baselines run that path)
    traj = tmp_path / "submit.traj"
    traj.write_text(json.dumps({"trajectory": [{"action": "submit"}]}))
    r = mlgym("replay", str(traj), "--task", "3SATTime", "--output", str(tmp_runs), timeout=900)
    assert r.returncode == 0, r.stderr
    _, results, run = check_records(only_run_dir(tmp_runs), "3SATTime")
    assert run["exit_status"] == "submitted" and len(results["agent"]) == 1
    for s in results["agent"]:
        assert s["Incorrect"] == 0 and s["Correct"] == 100 and 0 < s["Time"] < 300


@needs_games
def test_3sat_wrong_answers_give_no_score(tmp_path):
    from mlgym_core.env import MLGymEnv

    e = MLGymEnv("3SATTime", max_steps=5)
    e.reset()
    try:
        # a heuristic that sabotages the solver: claims nothing is left, so every formula looks UNSAT
        e.step("cat > heuristic.py <<'EOF'\ndef heuristic_fn(clauses, assignments, conflict_count, "
               "assignment_history, level):\n    return None, True\nEOF")
        obs, _, _, _, info = e.step("validate")
        assert info["scores"] == [] and "wrong answer" in obs  # as in MLGym: a format error, no score
    finally:
        e.close()


@needs_games
def test_replay_of_a_hand_written_mlgym_trajectory(tmp_runs):
    r = mlgym("replay", str(FIXTURES / "bos_always_zero.traj"), "--task", "battleOfSexes",
              "--output", str(tmp_runs))
    assert r.returncode == 0, r.stderr
    traj, results, run = check_records(only_run_dir(tmp_runs), "battleOfSexes")
    assert [s["action"] for s in traj["trajectory"]] == [s["action"] for s in json.loads(
        (FIXTURES / "bos_always_zero.traj").read_text())["trajectory"]]
    assert "def target_column_strategy" in traj["trajectory"][1]["observation"]
    assert run["exit_status"] == "submitted" and len(results["agent"]) == 2
    for s in results["agent"]:  # round 1 pays 0, then the partner copies our 0 with p=0.8: 9*0.8*2/10
        assert s["Score"] == pytest.approx(1.44, abs=0.04)
    assert traj["trajectory"][0]["thought"].startswith("DISCUSSION")


@needs_games
def test_workspace_from_lays_files_over_the_starter(tmp_runs, tmp_path):
    over = tmp_path / "over"
    over.mkdir()
    (over / "strategy.py").write_text("def row_strategy(history):\n    return 0\n")
    (over / "notes.txt").write_text("curriculum variant\n")
    r = mlgym("run", "--task", "battleOfSexes", "--agent", "baseline", "--workspace-from", str(over),
              "--output", str(tmp_runs))
    assert r.returncode == 0, r.stderr
    _, results, _ = check_records(only_run_dir(tmp_runs), "battleOfSexes")
    assert results["agent"][-1]["Score"] == pytest.approx(1.44, abs=0.04)


@needs_games
def test_killed_run_leaves_a_readable_trajectory(tmp_runs, tmp_path):
    traj = tmp_path / "slow.traj"
    steps = [{"action": "echo one"}, {"action": "echo two"}, {"action": "sleep 60"}, {"action": "submit"}]
    traj.write_text(json.dumps({"trajectory": steps}))
    p = subprocess.Popen([sys.executable, "-m", "mlgym_core", "replay", str(traj), "--task", "battleOfSexes",
                          "--output", str(tmp_runs), "--training-timeout", "100"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    run_dir = None
    while time.time() < deadline:
        dirs = [d for d in tmp_runs.iterdir() if d.is_dir()]
        if dirs and (dirs[0] / "battleOfSexes.traj").exists():
            t = json.loads((dirs[0] / "battleOfSexes.traj").read_text())
            if len(t["trajectory"]) >= 2:
                run_dir = dirs[0]
                break
        time.sleep(0.1)
    assert run_dir is not None
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    t = json.loads((run_dir / "battleOfSexes.traj").read_text())
    assert [s["observation"] for s in t["trajectory"][:2]] == ["one", "two"]
    assert json.loads((run_dir / "run.json").read_text())["exit_status"] == ""


@needs_games
def test_interrupted_run_records_interrupted_and_leaves_no_sandbox(tmp_runs, tmp_path):
    traj = tmp_path / "slow.traj"
    traj.write_text(json.dumps({"trajectory": [{"action": "echo one"}, {"action": "python -c 'import time; "
                                                                                   "time.sleep(60)'"}]}))
    p = subprocess.Popen([sys.executable, "-m", "mlgym_core", "replay", str(traj), "--task", "battleOfSexes",
                          "--output", str(tmp_runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        dirs = [d for d in tmp_runs.iterdir() if d.is_dir()]
        if dirs and (dirs[0] / "battleOfSexes.traj").exists() and \
                json.loads((dirs[0] / "battleOfSexes.traj").read_text())["trajectory"]:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    run = json.loads((only_run_dir(tmp_runs) / "run.json").read_text())
    assert run["exit_status"] == "interrupted"
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def test_third_party_task_pack_installed_with_pip(tmp_runs):
    pack = REPO / "tests" / "example_pack"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(pack)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    try:
        r = mlgym("list", "tasks")
        assert "guessNumber" in r.stdout and "example_pack" in r.stdout
        assert "example_pack" in mlgym("list-plugins").stdout
        assert mlgym("check", "guessNumber").returncode == 0
        r = mlgym("run", "--task", "guessNumber", "--agent", "baseline", "--output", str(tmp_runs))
        assert r.returncode == 0, r.stderr
        run = json.loads((only_run_dir(tmp_runs) / "run.json").read_text())
        assert run["scores"][-1]["closeness"] == 77.0  # |50 - 73| = 23; the secret stays in the grader
        assert run["task"]["plugin"] == "example_pack"
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "mlgym-example-pack"],
                       capture_output=True, timeout=300)
