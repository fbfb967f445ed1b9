"""The evaluators: rows matched by id, malformed submissions refused in one line, never a JSON line."""

from __future__ import annotations

import importlib.util
import json
from importlib.resources import files

import pytest

TASKS = files("mlgym_tasks_tabular") / "tasks"


def load(task_id):
    spec = importlib.util.spec_from_file_location(f"evaluate_{task_id}", str(TASKS / task_id / "evaluate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


HP, TI = load("regressionKaggleHousePrice"), load("titanicSurvival")


def run(mod, tmp_path, capsys, submission, answer):
    (tmp_path / "submission.csv").write_text(submission)
    (tmp_path / "answer.csv").write_text(answer)
    rc = mod.main(["--submission_file", str(tmp_path / "submission.csv"),
                   "--answer_file", str(tmp_path / "answer.csv")])
    out = capsys.readouterr()
    return rc, out.out, out.err


HP_ANSWER = "Id,SalePrice\n1,100000\n2,200000\n3,300000\n4,250000\n"


def test_house_prices_rows_are_matched_by_id(tmp_path, capsys):
    rc, out, _ = run(HP, tmp_path, capsys, "Id,SalePrice\n4,250000\n2,200000\n1,100000\n3,300000\n", HP_ANSWER)
    assert rc == 0 and json.loads(out) == {"rmse": 0.0, "r2": 1.0}
    rc, out, _ = run(HP, tmp_path, capsys, "SalePrice,Id\n110000,1\n190000,2\n300000,3\n250000,4\n", HP_ANSWER)
    m = json.loads(out)
    assert rc == 0 and m["rmse"] == pytest.approx((2 * 10000 ** 2 / 4) ** 0.5)
    assert m["r2"] == pytest.approx(1 - 2e8 / 2.1875e10)


def test_titanic_accuracy_matched_by_id(tmp_path, capsys):
    answer = "PassengerId,Survived\n892,0\n893,1\n894,0\n895,1\n"
    rc, out, _ = run(TI, tmp_path, capsys, "PassengerId,Survived\n895,1\n894,1\n893,1\n892,0\n", answer)
    assert rc == 0 and json.loads(out) == {"accuracy": 0.75}
    rc, out, _ = run(TI, tmp_path, capsys, "PassengerId,Survived\n892,False\n893,True\n894,False\n895,True\n", answer)
    assert rc == 0 and json.loads(out) == {"accuracy": 1.0}


FAKE = '{"rmse": 0.0, "r2": 1.0, "accuracy": 1.0}'
HP_BAD = {
    "json instead of csv": (FAKE + "\n", "lacks the column(s) Id, SalePrice"),
    "newline in a header": ('"x\n' + FAKE.replace('"', '""') + '",Price\n0,1\n', "lacks the column(s) Id, SalePrice"),
    "missing column": ("Id,Price\n1,1\n2,2\n3,3\n4,4\n", "lacks the column(s) SalePrice"),
    "missing rows": ("Id,SalePrice\n1,1\n2,2\n", "2 expected Id(s) missing"),
    "unknown ids": ("Id,SalePrice\n1,1\n2,2\n3,3\n4,4\n99,5\n", "1 unknown Id(s) (e.g. 99)"),
    "duplicated ids": ("Id,SalePrice\n1,1\n1,1\n3,3\n4,4\n", "duplicated Id"),
    "not a number": ("Id,SalePrice\n1,cheap\n2,2\n3,3\n4,4\n", "not finite numbers (first at Id 1)"),
    "empty value": ("Id,SalePrice\n1,\n2,2\n3,3\n4,4\n", "not finite"),
    "bad id": ("Id,SalePrice\nx,1\n2,2\n3,3\n4,4\n", "whole numbers"),
    "empty file": ("", "not a readable CSV"),
}


@pytest.mark.parametrize("case", sorted(HP_BAD))
def test_house_prices_malformed_submission(case, tmp_path, capsys):
    submission, expected = HP_BAD[case]
    rc, out, err = run(HP, tmp_path, capsys, submission, HP_ANSWER)
    assert rc == 1 and out == ""
    assert err.startswith("evaluate.py: error: submission file") and err.count("\n") == 1
    assert expected in err
    assert not any(line.strip().startswith("{") for line in err.splitlines())


@pytest.mark.parametrize("value", ["2", "0.5", "yes", ""])
def test_titanic_labels_must_be_0_or_1(value, tmp_path, capsys):
    rc, out, err = run(TI, tmp_path, capsys, f"PassengerId,Survived\n892,{value}\n893,1\n",
                       "PassengerId,Survived\n892,0\n893,1\n")
    assert rc == 1 and out == "" and "are not 0 or 1 (first at PassengerId 892)" in err


@pytest.mark.parametrize("mod, answer", [(HP, "data/answer.csv"), (TI, "data/ground_truth.csv")])
def test_without_answers_the_agent_is_told_to_validate(mod, answer, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "submission.csv").write_text("x\n")
    assert mod.main([]) == 1
    err = capsys.readouterr().err
    assert f"{answer} is only available to the grader" in err and "validate" in err
