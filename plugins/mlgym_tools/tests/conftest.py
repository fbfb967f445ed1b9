import os
import shutil
import tempfile

import pytest

from mlgym_core.env import MLGymEnv


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
