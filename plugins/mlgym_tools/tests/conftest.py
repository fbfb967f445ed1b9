import os
import shutil
import tempfile

import pytest

from mlgym_core.env import MLGymEnv

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def short_tmp():
    """A short temporary folder (unix socket paths must stay under ~108 bytes)."""
    d = tempfile.mkdtemp(prefix="mt-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_env(short_tmp):
    envs = []

    def make(tools=("default",), **kw):
        kw.setdefault("work_dir", os.path.join(short_tmp, "w"))
        env = MLGymEnv("battleOfSexes", tools=list(tools), runtime="local", **kw)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def run(env, action):
    obs, _reward, _term, _trunc, _info = env.step(action)
    return obs.rstrip("\n")
