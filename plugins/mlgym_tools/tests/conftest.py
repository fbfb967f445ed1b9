import os
import shutil
import tempfile

import pytest

from mlgym_core.env import MLGymEnv
from mlgym_core.testing import fixture_task


@pytest.fixture
def short_tmp():
    """A short temporary folder (unix socket paths must stay under ~108 bytes)."""
    d = tempfile.mkdtemp(prefix="mt-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_env(short_tmp):
    """``make(tools, **kw)``: an environment over core's fixture task (no task pack needed)."""
    envs = []
    with fixture_task() as spec:

        def make(tools=("default",), **kw):
            kw.setdefault("work_dir", os.path.join(short_tmp, "w"))
            env = MLGymEnv(spec, tools=list(tools), runtime="local", **kw)
            envs.append(env)
            return env

        yield make
        for env in envs:
            env.close()
