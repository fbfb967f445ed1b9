"""The plugin's hooks, conformance of every item, listing, cheap import, declared resources."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlgym_core.checks import check_dataset, check_task
from mlgym_core.cli import cli
from mlgym_core.specs import DatasetSpec, TaskSpec
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_tasks_cv import plugin

from .conftest import PKG, TASK_IDS


def test_hooks_return_the_pack():
    tasks = plugin.register_tasks()
    assert all(isinstance(t, TaskSpec) for t in tasks)
    assert sorted(t.id for t in tasks) == sorted(TASK_IDS)
    datasets = plugin.register_datasets()
    assert all(isinstance(d, DatasetSpec) for d in datasets)
    assert {d.id: d.source for d in datasets} == {"cifar10": "hf:uoft-cs/cifar10", "coco": "local",
                                                  "fashion_mnist": "hf:zalando-datasets/fashion_mnist"}


@pytest.mark.parametrize("spec", plugin.register_tasks(), ids=lambda s: s.id)
def test_task_conformance(spec):
    check_task(spec)
    assert spec.scales == ("full", "smoke")
    assert spec.factory == "mlgym_tasks_cv.tasks:CVTask"
    assert "evaluate.py" in spec.read_only and spec.artifacts == ("submission.csv",)


@pytest.mark.parametrize("spec", plugin.register_datasets(), ids=lambda s: s.id)
def test_dataset_conformance(spec):
    check_dataset(spec)


def test_metrics_baselines_gpus_and_timeouts():
    """Reference §1.1: priority metric, direction, baseline, training_timeout, 1 GPU per agent."""
    want = {"imageClassificationCifar10": ("accuracy", 0.4971, 1800),
            "imageClassificationCifar10L1": ("accuracy", 0.4971, 1800),
            "imageClassificationFMnist": ("accuracy", 0.7835, 1800),
            "imageCaptioningCOCO": ("BLEU Score", 0.2793602467563585, 2400)}
    for t in plugin.register_tasks():
        metric, base, timeout = want[t.id]
        assert (t.metric, t.baseline_scores[t.metric], t.training_timeout) == (metric, base, timeout)
        assert t.higher_is_better and t.resources.gpus == 1
    l1 = {t.id: t for t in plugin.register_tasks()}["imageClassificationCifar10L1"]
    assert "baseline.py" not in l1.starter_files and "{baseline:accuracy}" in l1.description
    from mlgym_core.task import make_task

    for scale, shown in (("full", "0.4971"), ("smoke", "0.645")):  # the prompt shows the scale's baseline
        task = make_task(l1, scale)
        assert f"reaches an accuracy of {shown} on" in task.description()
        task.close()


def test_listed_and_checked(fresh_plugins_cv):
    row = next(r for r in list_plugins_json() if r["name"] == "tasks_cv")
    assert row["status"] == "ok" and row["distribution"] == "mlgym-tasks-cv"
    assert row["provides"] == {"tasks": 4, "datasets": 3}
    res = CliRunner().invoke(cli, ["check", *TASK_IDS, "cifar10", "fashion_mnist", "coco"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["list", "tasks", "--json"])
    listed = {t["id"]: t for t in json.loads(res.output)}
    assert all(listed[i]["gpus"] == 1 for i in TASK_IDS)


@pytest.fixture
def fresh_plugins_cv():
    from mlgym_core import plugins

    saved = plugins._manager
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager(saved)


def test_plugin_import_is_cheap():
    code = ("import sys, mlgym_tasks_cv.plugin as p; p.register_tasks(); p.register_datasets(); "
            "heavy = [m for m in ('torch', 'datasets', 'PIL', 'pandas', 'pyarrow') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shared_scripts_are_identical():
    """CIFAR-10 and Fashion-MNIST share one baseline and one evaluator (copies, as each task folder is whole)."""
    t = PKG / "tasks"
    assert filecmp.cmp(t / "imageClassificationCifar10/baseline.py", t / "imageClassificationFMnist/baseline.py",
                       shallow=False)
    for other in ("imageClassificationFMnist", "imageClassificationCifar10L1"):
        assert filecmp.cmp(t / "imageClassificationCifar10/evaluate.py", t / other / "evaluate.py", shallow=False)


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("tasks_cv").provides == {"tasks": 4, "datasets": 3}
