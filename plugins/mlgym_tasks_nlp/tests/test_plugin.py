import json
import subprocess
import sys

import pytest
from mlgym_core.checks import check_dataset, check_task
from mlgym_core.testing import check_plugin, list_plugins_json

from mlgym_tasks_nlp import plugin

TASKS = list(plugin.register_tasks())
DATASETS = list(plugin.register_datasets())


def test_provides_expected_tasks_and_datasets():
    assert {t.id for t in TASKS} == {"languageModelingFineWeb", "naturalLanguageInferenceMNLI"}
    assert {d.id for d in DATASETS} == {"fineweb", "mnli"}
    by_id = {t.id: t for t in TASKS}
    lm, nli = by_id["languageModelingFineWeb"], by_id["naturalLanguageInferenceMNLI"]
    assert (lm.metric, lm.higher_is_better, lm.baseline_scores["val_loss"]) == ("val_loss", False, 4.672730922698975)
    assert (nli.metric, nli.higher_is_better) == ("validation_accuracy", True)
    assert nli.baseline_scores["validation_accuracy"] == pytest.approx(52.51146204788589)
    assert lm.resources.gpus == nli.resources.gpus == 2
    assert set(lm.scales) == set(nli.scales) == {"full", "smoke"}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_task_passes_conformance(task):
    check_task(task)


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.id)
def test_dataset_passes_conformance(ds):
    check_dataset(ds)


def test_grader_never_gets_agent_code_beyond_the_model_definition():
    lm = {t.id: t for t in TASKS}["languageModelingFineWeb"]
    assert set(lm.artifacts) == {"model.py", "model.pt", "model_config.json"}
    nli = {t.id: t for t in TASKS}["naturalLanguageInferenceMNLI"]
    assert all(a.endswith((".json", ".safetensors")) for a in nli.artifacts)


def test_plugin_import_is_cheap():
    code = ("import sys, mlgym_tasks_nlp.plugin as p; list(p.register_tasks()); list(p.register_datasets());"
            "heavy = {'torch', 'transformers', 'datasets', 'tiktoken', 'safetensors', 'mlgym_tasks_nlp.data'};"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_listed_by_cli():
    assert "tasks_nlp" in {p["name"] for p in list_plugins_json()}


def test_mlgym_check_passes_for_both_tasks(cli):
    res = cli("check", "languageModelingFineWeb", "naturalLanguageInferenceMNLI", "fineweb", "mnli")
    assert "all checks passed" in res.stdout


def test_data_prepare_command_is_registered(cli):
    res = cli("data", "prepare", "--help")
    assert "TASK_ID" in res.stdout
    bad = cli("data", "prepare", "noSuchTask", check=False)
    assert bad.returncode != 0 and "noSuchTask" in bad.stderr


def test_data_prepare_rejects_unknown_option(nlp_home, cli):
    bad = cli("data", "prepare", "naturalLanguageInferenceMNLI", "--scale", "smoke", "-o", "oops", check=False)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr


def test_data_prepare_smoke_prints_the_data_dir(nlp_home, cli):
    res = cli("data", "prepare", "naturalLanguageInferenceMNLI", "--scale", "smoke")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["scale"] == "smoke" and out["data_dir"].startswith(str(nlp_home))


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("tasks_nlp").provides == {"tasks": 2, "datasets": 2, "commands": 1}
