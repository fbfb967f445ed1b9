"""The plugin's contract: hooks, conformance, listing, cheap import, data preparation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core import DataUnavailableError, make_task
from mlgym_core.checks import check_dataset, check_task, run_checks
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_tasks_tabular import plugin, synthetic
from mlgym_tasks_tabular.tabular import HOUSE_PRICES_HUB

from .conftest import needs_real_data

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


def _house_prices_layout(scale):
    """The prepared House Prices files: the agent's three CSVs and the grader's answers, checked by name."""
    import pandas as pd

    task = make_task(spec("regressionKaggleHousePrice"), scale)
    task.prepare()
    data, grader = task.data_dir(), task.grader_binds()["/home/agent/workspace/data"]
    assert sorted(p.name for p in data.iterdir()) == ["test.csv", "train.csv", "validation.csv"]
    assert sorted(p.name for p in grader.iterdir()) == ["answer.csv"]
    frames = [pd.read_csv(data / f) for f in ("train.csv", "validation.csv", "test.csv")]
    task.close()
    return (*frames, pd.read_csv(grader / "answer.csv"))


@needs_real_data
def test_house_prices_split_is_mlgyms(tabular_env):
    train, val, test, answer = _house_prices_layout("full")
    assert (len(train), len(val), len(test)) == (1022, 146, 292)
    assert "SalePrice" not in test.columns and list(answer.columns) == ["Id", "SalePrice"]
    assert list(answer["Id"]) == list(test["Id"])
    ids = [set(f["Id"]) for f in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 1460
    # the first test rows of train_test_split(random_state=42) on Kaggle's file
    assert list(test["Id"][:5]) == [893, 1106, 414, 523, 1037]


@needs_real_data
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


def test_smoke_scale_lays_out_synthetic_data_like_the_real_one(tabular_env):
    import pandas as pd

    train, val, test, answer = _house_prices_layout("smoke")
    assert (len(train), len(val), len(test)) == (350, 50, 100)  # MLGym's split of 500 rows
    assert len(train.columns) == 81 and train.columns[0] == "Id" and train.columns[-1] == "SalePrice"
    assert list(test.columns) == list(train.columns[:-1]) and list(answer["Id"]) == list(test["Id"])
    kinds = {name: kind for name, kind, _, _ in synthetic.HOUSE_COLUMNS}
    for col in train.columns[1:-1]:  # integers stay integers, gaps make floats, text stays text
        assert train[col].dtype.kind == {"i": "i", "f": "f", "c": "O"}[kinds[col]] or \
            (kinds[col] == "c" and pd.api.types.is_string_dtype(train[col])), col
    assert train["LotFrontage"].isna().any() and train["Alley"].isna().mean() > 0.8
    titanic = make_task(spec("titanicSurvival"), "smoke")
    titanic.prepare()
    data, grader = titanic.data_dir(), titanic.grader_binds()["/home/agent/workspace/data"]
    train, test = pd.read_csv(data / "train.csv"), pd.read_csv(data / "test.csv")
    assert list(train.columns) == ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch",
                                   "Ticket", "Fare", "Cabin", "Embarked"]
    assert list(test.columns) == [c for c in train.columns if c != "Survived"]
    truth = pd.read_csv(grader / "ground_truth.csv")
    assert list(truth.columns) == ["PassengerId", "Survived"]
    assert list(truth["PassengerId"]) == list(test["PassengerId"])
    titanic.close()


@needs_real_data
def test_synthetic_schema_is_the_real_files_schema(tabular_env):
    """Same columns in the same order, same dtypes once written and read back as CSV."""
    import io

    import pandas as pd

    root = Path(tabular_env["MLGYM_DATA_DIR"])

    def schema(frame):
        frame = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
        return [(c, frame[c].dtype.kind) for c in frame.columns]

    assert schema(synthetic.house_prices()) == schema(pd.read_csv(root / "kaggle_house_prices" / "train.csv"))
    for frame, name in zip(synthetic.titanic(), ("train.csv", "test.csv", "ground_truth.csv")):
        assert schema(frame) == schema(pd.read_csv(root / "titanic" / name)), name


def test_missing_house_prices_names_dataset_hub_and_path(tabular_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as exc:
        make_task(spec("regressionKaggleHousePrice")).prepare()
    msg = str(exc.value)
    assert "kaggle_house_prices" in msg and HOUSE_PRICES_HUB in msg and "HF_HUB_OFFLINE=1" in msg
    assert str(tmp_path / "kaggle_house_prices") in msg and "\n" not in msg and "--scale smoke" in msg


def test_wrong_house_prices_file_is_refused(tabular_env, tmp_path, monkeypatch):
    (tmp_path / "kaggle_house_prices").mkdir()
    (tmp_path / "kaggle_house_prices" / "train.csv").write_text("Id,SalePrice\n1,100\n2,200\n")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="expected 1460 rows"):
        make_task(spec("regressionKaggleHousePrice")).prepare()


def test_missing_titanic_files_are_named(tabular_env, tmp_path, monkeypatch):
    (tmp_path / "titanic").mkdir()
    (tmp_path / "titanic" / "train.csv").write_text("PassengerId,Survived\n1,0\n")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match=r"titanic lacks test.csv, ground_truth.csv; set MLGYM_DATA_DIR"):
        make_task(spec("titanicSurvival")).prepare()


@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_a_run_without_data_fails_before_its_run_directory(tabular_env, tmp_path, hub):
    """No local files and no usable hub: one line saying what to set, a non-zero exit, no run directory,
    and no hub retries (an unreachable hub is probed once, never called)."""
    import socket

    env = {**os.environ, "MLGYM_HOME": str(tmp_path / "home"), "MLGYM_DATA_DIR": str(tmp_path / "empty")}
    if hub == "offline":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            env["HF_ENDPOINT"] = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed: connections are refused
    res = subprocess.run([sys.executable, "-c", "from mlgym_core.cli import main; main()", "run", "--task",
                          "regressionKaggleHousePrice", "--agent", "baseline", "--output", str(tmp_path / "runs")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0
    (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert line.startswith("mlgym: error: dataset 'kaggle_house_prices': no local copy")
    assert ("HF_HUB_OFFLINE=1" if hub == "offline" else "does not answer at http://127.0.0.1") in line
    assert "MLGYM_DATA_DIR=/path" in line and "Retrying" not in res.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "home" / "tasks_tabular").exists()


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("tasks_tabular").provides == {"tasks": 3, "datasets": 2}
