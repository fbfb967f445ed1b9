"""MLGymVectorEnv: N isolated episodes behind gymnasium's VectorEnv API, stepped concurrently."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.passive_env_checker import check_obs
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from mlgym_core.errors import MlgymError
from mlgym_core.vector import MLGymVectorEnv

from .conftest import needs_games

pytestmark = needs_games


@pytest.fixture
def vec(tmp_path):
    v = MLGymVectorEnv("battleOfSexes", 3, max_steps=5, work_dir=tmp_path / "work")
    yield v
    v.close()


def test_gymnasium_api_spaces_infos_and_autoreset(vec):
    assert isinstance(vec, gym.vector.VectorEnv) and vec.num_envs == 3
    obs, infos = vec.reset(seed=10)
    check_obs(obs, vec.observation_space, "reset")  # gymnasium's own observation check, on the batch
    assert all("Battle of the Sexes" in o for o in obs) and list(infos["step"]) == [0, 0, 0]
    actions = ("echo $MLGYM_SEED > mine; ls mine other 2>&1 | sort", "echo $MLGYM_SEED > other; cat other", "skip")
    assert vec.action_space.contains(actions)
    obs, rewards, terms, truncs, infos = vec.step(actions)
    check_obs(obs, vec.observation_space, "step")
    assert obs[0].splitlines()[-1] == "mine" and "No such file" in obs[0]  # episode 1's file is not in episode 0's
    assert obs[1] == "11" and obs[2] == "Skipped"  # seeds seed + i
    assert list(terms) == [False, False, True] and rewards.dtype == np.float64 and not truncs.any()
    assert list(infos["returncode"][:2]) == [0, 0] and infos["_returncode"].all()
    assert list(infos["exit_status"]) == ["", "", "skipped"] and infos["timings"]["step_s"].dtype == float
    hosts = {e.workspace_host for e in vec.envs}
    assert len(hosts) == 3
    obs, _, terms, _, infos = vec.step(["echo again", "echo again", "echo ignored"])  # NEXT_STEP autoreset
    assert obs[:2] == ("again", "again") and "Battle of the Sexes" in obs[2] and infos["step"][2] == 0


def test_gymnasium_vector_wrapper_counts_episodes(vec):
    env = RecordEpisodeStatistics(vec)
    env.reset(seed=0)
    _, _, _, _, infos = env.step(["echo a", "exit_forfeit", "echo c"])
    assert list(infos["_episode"]) == [False, True, False] and infos["episode"]["l"][1] == 1


def test_a_slow_command_does_not_hold_back_another(vec):
    vec.reset()
    # episode 0 waits until the test lets it go: no timing involved
    vec.send(["until [ -e go ]; do sleep 0.05; done; echo slow", "echo hi"], env_ids=[0, 1])
    obs, _, _, _, infos, ids = vec.recv(min_ready=1)
    assert list(ids) == [1] and obs == ("hi",)  # answered while episode 0 still waits
    with pytest.raises(MlgymError, match="busy"):
        vec.send(["echo again"], env_ids=[0])
    assert len(vec.recv(min_ready=1, timeout=0.05)[5]) == 0  # the timeout passes: nothing more is done
    (vec.envs[0].workspace_host / "go").touch()
    obs, _, _, _, _, ids = vec.recv()
    assert list(ids) == [0] and obs == ("slow",)
    with pytest.raises(MlgymError, match="nothing sent"):
        vec.recv()
