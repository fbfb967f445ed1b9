"""Places where mlgym matches MLGym on purpose, across the installed task packs and core
(docs/differences-from-mlgym.md lists them, and every deliberate difference)."""

from __future__ import annotations

import pytest

from mlgym_core import make_task, tasks
from mlgym_core.env import MLGymEnv
from mlgym_core.testing import fixture_task

from .conftest import needs_bwrap

TASKS = sorted(tasks().values(), key=lambda s: s.qualified)


@pytest.mark.parametrize("spec", TASKS, ids=lambda s: s.qualified)
def test_every_task_is_graded_with_its_training_timeout_as_in_mlgym(spec):
    task = make_task(spec)
    try:
        assert task.eval_timeout() == spec.training_timeout > 0
    finally:
        task.close()


@needs_bwrap
def test_an_invalid_byte_in_an_observation_shows_as_in_mlgym():
    # MLGym decodes the shell's output with errors="backslashreplace": byte 0xff is the 4 characters \xff
    with fixture_task() as spec:
        env = MLGymEnv(spec.qualified, max_steps=3)
        try:
            env.reset(seed=1)
            assert env.step("printf 'caf\\xc3\\xa9 \\xff\\n'")[0] == "café \\xff"
        finally:
            env.close()
