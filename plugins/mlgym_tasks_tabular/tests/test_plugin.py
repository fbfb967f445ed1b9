"""The plugin's contract: hooks, conformance, listing, cheap import, data preparation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core import make_task
from mlgym_core.checks import check_dataset, check_task, run_checks
from mlgym_core.testing import list_plugins_json
from mlgym_tasks_tabular import plugin
from mlgym_tasks_tabular.tabular import DatasetUnavailableError, HOUSE_PRICES_HUB

TASKS = list(plugin.register_tasks())
DATASETS = list(plugin.register_datasets())
IDS = {"regressionKaggleHousePrice", "regressionKaggleHousePriceL1", "titanicSurvival"}


def spec(task_id):
    return next(t for t in TASKS if t.id == task_id)


def test_provides_expected_tasks_and_datasets():
    assert {t.id for t in TASKS} == IDS
    assert {d.id for d in DATASETS} == {"kaggle_house_prices", "titanic"}
    assert spec("titanicSurvival").metric == "accuracy"
    assert set(spec("titanicSurvival").baseline_scores) == {"accuracy"}  # upstream's 'Accuracy' key fixed
    assert spec("regressionKaggleHousePrice").baseline_command == "python baseline.py"


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_task_passes_conformance(task):
    check_task(task)


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.id)
def test_dataset_passes_conformance(ds):
    check_dataset(ds)


def test_listed_by_cli_and_mlgym_check_passes(tabular_env):
    row = next(p for p in list_plugins_json() if p["name"] == "tasks_tabular")
    assert row["status"] == "ok" and row["provides"] == {"tasks": 3, "datasets": 2}
    assert run_checks() == []
    out = subprocess.run([sys.executable, "-c", "from mlgym_core.cli import main; main()", "check", *sorted(IDS),
                          "kaggle_house_prices", "titanic"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks passed" in out.stdout


def test_plugin_import_is_cheap():
    code = ("import sys; import mlgym_tasks_tabular.plugin as p; p.register_tasks(); p.register_datasets(); "
            "print(sorted(m for m in ('pandas', 'sklearn', 'numpy.linalg', 'huggingface_hub', 'datasets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_l1_has_no_baseline_script_but_states_the_baseline():
    l1, main = spec("regressionKaggleHousePriceL1"), spec("regressionKaggleHousePrice")
    assert "baseline.py" not in l1.starter_files and "baseline.py" in main.starter_files
    assert "r2 0.8800" in l1.description and "rmse 30340" in l1.description
    assert l1.baseline_scores == main.baseline_scores
    # the baseline agent pipes the main task's script into python; nothing is written to the workspace
    script = (Path(str(main.files)) / "baseline.py").read_text().rstrip()
    assert l1.baseline_command.startswith("python - <<'MLGYM_BASELINE_EOF'\n")
    assert script in l1.baseline_command
    assert (Path(str(l1.files)) / "evaluate.py").read_bytes() == (Path(str(main.files)) / "evaluate.py").read_bytes()


def test_house_prices_split_is_mlgyms(tabular_env):
    import pandas as pd

    task = make_task(spec("regressionKaggleHousePrice"))
    task.prepare()
    data, grader = task.data_dir(), task.grader_binds()["/home/agent/workspace/data"]
    assert sorted(p.name for p in data.iterdir()) == ["test.csv", "train.csv", "validation.csv"]
    assert sorted(p.name for p in grader.iterdir()) == ["answer.csv"]
    train, val, test = (pd.read_csv(data / f) for f in ("train.csv", "validation.csv", "test.csv"))
    answer = pd.read_csv(grader / "answer.csv")
    assert (len(train), len(val), len(test)) == (1022, 146, 292)
    assert "SalePrice" not in test.columns and list(answer.columns) == ["Id", "SalePrice"]
    assert list(answer["Id"]) == list(test["Id"])
    ids = [set(f["Id"]) for f in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 1460
    # the first test rows of train_test_split(random_state=42) on Kaggle's file
    assert list(test["Id"][:5]) == [893, 1106, 414, 523, 1037]
    task.close()


def test_titanic_layout(tabular_env):
    import warnings

    import pandas as pd

    raw = Path(tabular_env["MLGYM_DATA_DIR"]) / "titanic"
    rtest, truth = pd.read_csv(raw / "test.csv"), pd.read_csv(raw / "ground_truth.csv")
    merged = rtest.merge(truth, on="PassengerId")
    gender_rule = bool((merged["Survived"] == (merged["Sex"] == "female")).all())
    task = make_task(spec("titanicSurvival"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task.prepare()
    assert any("gender rule" in str(w.message) for w in caught) == gender_rule
    data, grader = task.data_dir(), task.grader_binds()["/home/agent/workspace/data"]
    assert sorted(p.name for p in data.iterdir()) == ["test.csv", "train.csv"]
    assert sorted(p.name for p in grader.iterdir()) == ["ground_truth.csv"]
    test = pd.read_csv(data / "test.csv")
    assert len(pd.read_csv(data / "train.csv")) == 891 and len(test) == 418 and "Survived" not in test.columns
    task.close()


def test_missing_house_prices_names_dataset_hub_and_path(tabular_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as exc:
        make_task(spec("regressionKaggleHousePrice")).prepare()
    msg = str(exc.value)
    assert "kaggle_house_prices" in msg and HOUSE_PRICES_HUB in msg
    assert str(tmp_path / "kaggle_house_prices" / "train.csv") in msg and "\n" not in msg


def test_wrong_house_prices_file_is_refused(tabular_env, tmp_path, monkeypatch):
    (tmp_path / "kaggle_house_prices").mkdir()
    (tmp_path / "kaggle_house_prices" / "train.csv").write_text("Id,SalePrice\n1,100\n2,200\n")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="expected 1460 rows"):
        make_task(spec("regressionKaggleHousePrice")).prepare()


def test_missing_titanic_files_are_named(tabular_env, tmp_path, monkeypatch):
    (tmp_path / "titanic").mkdir()
    (tmp_path / "titanic" / "train.csv").write_text("PassengerId,Survived\n1,0\n")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match=r"test.csv, ground_truth.csv missing from .*titanic"):
        make_task(spec("titanicSurvival")).prepare()
