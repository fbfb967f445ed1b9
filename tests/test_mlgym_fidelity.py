"""Places where mlgym matches MLGym on purpose, across the installed task packs and core
(docs/differences-from-mlgym.md lists them, and every deliberate difference)."""

from __future__ import annotations

import pytest

from mlgym_core import make_task, tasks

TASKS = sorted(tasks().values(), key=lambda s: s.qualified)


@pytest.mark.parametrize("spec", TASKS, ids=lambda s: s.qualified)
def test_every_task_is_graded_with_its_training_timeout_as_in_mlgym(spec):
    task = make_task(spec)
    try:
        assert task.eval_timeout() == spec.training_timeout > 0
    finally:
        task.close()
