"""The plugin's contract: conformance through its entry point, listing, a cheap entry module.

The pack's own tests (tasks, scales, grader, smoke runs) are in test_rl_pack.py and beside it."""

from __future__ import annotations

import pytest

from mlgym_core.checks import check_task
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_tasks_rl import plugin

TASKS = list(plugin.register_tasks())


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_task_passes_conformance(task):
    check_task(task)


def test_plugin_conformance():
    """Loaded through its entry point; registering imports none of JAX, gymnax, flax or optax."""
    report = check_plugin("tasks_rl", heavy=("jax", "gymnax", "flax", "optax"))
    assert report.provides == {"tasks": 4}


def test_listed_by_cli():
    row = next(p for p in list_plugins_json() if p["name"] == "tasks_rl")
    assert row["status"] == "ok" and row["provides"] == {"tasks": 4}
