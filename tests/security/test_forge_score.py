"""Forged scores: agent code run by the grader, and evaluator output shaped by the agent, must
never become a score. Real episodes of the local runtime; each test fails if the attack works."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import pytest

from mlgym_core.testing import make_task_spec

from ..conftest import needs_bwrap, needs_games
from ._attack import act, episode, forge_code, validate, write

FORGED_BOS = '{"Score": 99.0}'
FORGED_SAT = '{"Time": 0.001, "Correct": 100, "Incorrect": 0, "Decisions": 1}'

# forges at import and in its first calls
STRATEGY = '''
calls = 0

def row_strategy(history):
    global calls
    calls += 1
    if calls <= 3:
        forge()
    return 0
'''
# a fast deterministic heuristic (Jeroslow-Wang), forging at import and in its first calls
HEURISTIC = '''
import random
random.seed(10)
calls = 0

def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):
    global calls
    calls += 1
    if calls <= 3:
        forge()
    score = {}
    for c in clauses:
        w = 2.0 ** -len(c)
        for lit in c:
            if abs(lit) not in assignments:
                score[lit] = score.get(lit, 0.0) + w
    if not score:
        return None, True
    lit = max(score, key=score.get)
    return abs(lit), lit > 0
'''


@needs_games
@needs_bwrap
@pytest.mark.parametrize("every_fd", [False, True], ids=["proc-and-stdio", "every-descriptor"])
def test_a_strategy_cannot_forge_the_battle_of_sexes_score(every_fd):
    with episode("battleOfSexes") as env:
        act(env, write("strategy.py", forge_code(FORGED_BOS, every_fd) + STRATEGY))
        obs, metrics = validate(env)
        if not every_fd:  # writing into its own protocol pipe may break the game, nothing else
            assert metrics is not None, obs
        assert metrics is None or metrics["Score"] <= 2.0, obs
        act(env, "submit")
        assert all(m["Score"] <= 2.0 for m in env.scores), env.scores


@needs_games
@needs_bwrap
def test_a_heuristic_cannot_forge_the_3sat_time():
    with episode("3SATTime") as env:
        act(env, write("heuristic.py", HEURISTIC.replace("    if calls <= 3:\n        forge()\n", "")))
        _, honest = validate(env)
        assert honest is not None and honest["Incorrect"] == 0
        act(env, write("heuristic.py", forge_code(FORGED_SAT) + HEURISTIC))
        obs, metrics = validate(env)
        assert metrics is not None, obs
        assert metrics["Decisions"] == honest["Decisions"] and metrics["Time"] != 0.001, obs


# -- evaluator output shaped by the agent ----------------------------------------------------
ECHO_EVALUATOR = '''
import json, sys
spec = json.load(open("answer.json"))  # the agent's artifact decides what this grader prints
line = "x" * 1023 + "\\n"
for _ in range(spec.get("flood_mb", 0) * 1024):
    sys.stdout.write(line)
print(json.dumps(spec["metrics"]))  # json.dumps writes inf as Infinity
sys.stdout.flush()
sys.exit(spec.get("exit", 0))
'''


@pytest.fixture
def echo_task(tmp_path):
    folder = tmp_path / "echoTask"
    folder.mkdir()
    (folder / "evaluate.py").write_text(ECHO_EVALUATOR)
    return make_task_spec(folder, id="echoScore", metric="Score", baseline_scores={"Score": 1.0, "Other": 0.0},
                          artifacts=("answer.json",), required_artifacts=("answer.json",), eval_timeout=120)


@needs_bwrap
@pytest.mark.parametrize("answer, expect", [
    ({"metrics": {"Score": float("inf"), "Other": 0}}, "is inf (not a finite number)"),
    ({"metrics": {"Score": float("nan"), "Other": 0}}, "is nan (not a finite number)"),
    ({"metrics": {"Score": -float("inf"), "Other": 0}}, "is -inf (not a finite number)"),
    ({"metrics": {"Score": 5.0}}, "reported no 'Other'"),
    ({"metrics": {"Score": "5", "Other": 0}}, "is not a number"),
    ({"metrics": {"Score": 5.0, "Other": 0}, "exit": 1}, "exited with status 1"),
], ids=["inf", "nan", "-inf", "missing", "string", "exit-1"])
def test_bad_metrics_are_refused_with_one_clear_line(echo_task, answer, expect):
    with episode(echo_task) as env:
        act(env, write("answer.json", json.dumps(answer)))
        obs, metrics = validate(env)
        assert metrics is None and expect in obs.splitlines()[0], obs
        act(env, "submit")
        assert env.scores == [] and "Infinity" not in json.dumps(env.scores)


@needs_bwrap
def test_the_last_json_line_is_the_score(echo_task):
    with episode(echo_task) as env:
        act(env, write("answer.json", json.dumps({"metrics": {"Score": 3.5, "Other": 1}})))
        _, metrics = validate(env)
        assert metrics == {"Score": 3.5, "Other": 1.0}


FLOOD_CHILD = textwrap.dedent('''
    import json, resource, sys
    from pathlib import Path
    from mlgym_core.env import MLGymEnv
    from mlgym_core.testing import make_task_spec
    folder, mb = sys.argv[1], int(sys.argv[2])
    spec = make_task_spec(Path(folder), id="echoScore", metric="Score", baseline_scores={"Score": 1.0},
                          artifacts=("answer.json",), required_artifacts=("answer.json",), eval_timeout=120)
    env = MLGymEnv(spec, max_steps=5, prestart=False)
    env.reset(seed=0)
    answer = json.dumps({"metrics": {"Score": 2.5}, "flood_mb": mb})
    env.step(f"echo '{answer}' > answer.json")
    env.step("validate")
    env.close()
    print(json.dumps({"scores": env.scores, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
''')


@needs_bwrap
def test_a_200_mb_grader_output_is_capped_on_the_host(echo_task):
    folder = str(echo_task.files)

    def run(mb: int) -> dict:
        res = subprocess.run([sys.executable, "-c", FLOOD_CHILD, folder, str(mb)], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    quiet, flood = run(0), run(200)
    assert quiet["scores"] == flood["scores"] == [{"Score": 2.5}]  # the metrics after the flood still count
    grown_mb = (flood["maxrss_kb"] - quiet["maxrss_kb"]) / 1024
    assert grown_mb < 64, f"the host process grew by {grown_mb:.0f} MB reading 200 MB of grader output"


NETWORK = '''
import jax
import jax.numpy as jnp


class Uniform:
    def __init__(self, shape):
        self.shape = shape

    def sample(self, seed):
        forge()
        return jax.random.uniform(seed, self.shape, minval=-1.0, maxval=1.0)


class Model:
    def apply(self, params, obs, rng=None):
        return jnp.zeros(obs.shape[0]), Uniform((obs.shape[0], 1))


def get_model_ready(rng, config):
    return Model(), {}
'''


@needs_bwrap
def test_an_rl_network_cannot_forge_the_reward(tmp_path):
    pytest.importorskip("mlgym_tasks_rl")
    ws = tmp_path / "from"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "networks.py").write_text(forge_code('{"Reward Mean": 1000000.0, "Reward Std": 0.0}') + NETWORK)
    (ws / "config.yaml").write_text("train_config:\n  env_name: MountainCarContinuous-v0\n")
    (ws / "checkpoints").mkdir()
    for i in range(5):
        with open(ws / "checkpoints" / f"config-42-{i}.pkl", "wb") as f:
            pickle.dump({"network": {}}, f)
    with episode("rlMountainCarContinuous", scale="smoke", workspace_from=str(ws)) as env:
        obs, metrics = validate(env)
        assert metrics is not None, obs
        assert metrics["Reward Mean"] < 100, obs  # uniform random actions score about -6.7
