"""The RL evaluator through the real environment: sandbox, grading folder, worker process.

Workspaces are made by hand (no training): a stand-in ``src/networks.py`` and 5 small
checkpoints, copied into the episode's workspace with ``workspace_from``.
"""

from __future__ import annotations

import json
import pickle
import textwrap

import gymnasium
import pytest
from mlgym_core import register_envs

RANDOM_MCC = -6.67  # uniform random actions on MountainCarContinuous-v0 under this protocol (-0.1 * 200 / 3)
FAKE = {"Reward Mean": 1e9, "Reward Std": 0.0}

LIAR = """
import json, os, sys
FAKE = json.dumps({fake})
print(FAKE)
sys.stdout.flush()
os.write(1, (FAKE + "\\n").encode())
print(FAKE, file=sys.stderr)
for fd in (1, 2):
    try:  # the grader's own output, if it let us reach it
        with open(f"/proc/{{os.getppid()}}/fd/{{fd}}", "w") as f:
            f.write(FAKE + "\\n")
    except OSError:
        pass
"""

UNIFORM = """
import jax
import jax.numpy as jnp


class Uniform:
    def __init__(self, shape, low, high):
        self.shape, self.low, self.high = shape, low, high

    def sample(self, seed):
        return jax.random.uniform(seed, self.shape, minval=self.low, maxval=self.high)


class Model:
    def apply(self, params, obs, rng=None):
        print({fake!r})
        return jnp.zeros(obs.shape[0]), Uniform((obs.shape[0], 1), -1.0, 1.0)


def get_model_ready(rng, config):
    return Model(), {{}}
"""

BAD_DISCRETE = """
import jax.numpy as jnp


class Always:
    def __init__(self, n):
        self.n = n

    def sample(self, seed):
        return jnp.full((self.n,), 7, dtype=jnp.int32)


class Model:
    def apply(self, params, obs, rng=None):
        return jnp.zeros(obs.shape[0]), Always(obs.shape[0])


def get_model_ready(rng, config):
    return Model(), {}
"""


@pytest.fixture(scope="module", autouse=True)
def _envs():
    register_envs()


def make_ws(root, networks: str | None, n_ckpts: int = 5, config: bool = True, ckpt_dir: bool = True):
    ws = root / "from"
    (ws / "src").mkdir(parents=True)
    if networks is not None:
        (ws / "src" / "networks.py").write_text(textwrap.dedent(networks))
    if config:
        (ws / "config.yaml").write_text("train_config:\n  env_name: MountainCarContinuous-v0\n")
    if ckpt_dir:
        (ws / "checkpoints").mkdir()
    for i in range(n_ckpts):
        with open(ws / "checkpoints" / f"config-42-{i}.pkl", "wb") as f:
            pickle.dump({"log_steps": [], "log_return": [], "network": {}, "train_config": {}}, f)
    return ws


def episode(task_id, ws, *actions):
    env = gymnasium.make(f"mlgym/{task_id}", scale="smoke", workspace_from=str(ws), max_steps=10)
    try:
        env.reset(seed=0)
        out = [env.step(a) for a in actions]
        return out, list(env.unwrapped.scores)
    finally:
        env.close()


@pytest.mark.parametrize("what", ["no checkpoints folder", "empty checkpoints folder", "no config.yaml"])
def test_missing_artifacts_are_submission_not_found(tmp_path, what):
    ws = make_ws(tmp_path, None, n_ckpts=0 if "checkpoints" in what else 5,
                 ckpt_dir=what != "no checkpoints folder", config=what != "no config.yaml")
    [(_obs, _r, terminated, _t, info)], scores = episode("rlMountainCarContinuous", ws, "submit")
    assert terminated and info["exit_status"] == "submission_not_found (submit)"
    assert scores == []


def test_wrong_number_of_checkpoints_is_an_evaluation_error(tmp_path):
    ws = make_ws(tmp_path, UNIFORM.format(fake=json.dumps(FAKE)), n_ckpts=4)
    [(obs, *_), (_o, _r, terminated, _t, info)], scores = episode("rlMountainCarContinuous", ws, "validate", "submit")
    assert "expected exactly 5 checkpoints matching checkpoints/config*.pkl, found 4" in obs
    assert terminated and info["exit_status"] == "evaluation_format_error (submit)"
    assert scores == []


def test_a_network_that_prints_a_fake_score_is_not_believed(tmp_path):
    """The agent's network prints (and tries to write to the grader's output) a fake score, then
    acts uniformly at random: the score is the one the grader computes, the random-policy score."""
    ws = make_ws(tmp_path, LIAR.format(fake=json.dumps(FAKE)) + UNIFORM.format(fake=json.dumps(FAKE)))
    [(obs, *_)], scores = episode("rlMountainCarContinuous", ws, "validate")
    assert len(scores) == 1, obs
    assert scores[0]["Reward Mean"] == pytest.approx(RANDOM_MCC, abs=0.1)
    assert 0.1 < scores[0]["Reward Std"] < 1.0
    assert "1000000000" not in obs


def test_a_failing_network_that_prints_a_fake_score_gives_no_score(tmp_path):
    # the exception message itself carries a metrics line
    raise_it = f"\nraise RuntimeError('broken network\\n' + json.dumps({FAKE!r}))\n"
    ws = make_ws(tmp_path, LIAR.format(fake=json.dumps(FAKE)) + raise_it)
    [(obs, *_), (_o, _r, terminated, _t, info)], scores = episode("rlMountainCarContinuous", ws, "validate", "submit")
    assert "cannot build the policy" in obs and "broken network" in obs  # the agent sees why
    assert scores == []
    assert info["exit_status"] == "evaluation_format_error (submit)"


def test_out_of_range_actions_are_refused(tmp_path):
    ws = make_ws(tmp_path, BAD_DISCRETE)
    [(obs, *_)], scores = episode("rlMetaMazeMisc", ws, "validate")
    assert "discrete actions must lie in [0, 3]" in obs
    assert scores == []
