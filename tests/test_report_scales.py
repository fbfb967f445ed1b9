"""The report never pools scales, leaves out what is not the agent's doing (and says so), names exit
statuses by their constants, rounds for people, and draws the paper's analysis figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgym_core.cli import cli

from .test_report import fixture_tasks  # noqa: F401  (the fixtures' task specs, for every test here)

LONG = "default:openai:" + "a-very-long-model-name-" * 4 + "end"


def write_run(root: Path, name: str, *, method: str, scale: str | None, scores: list, baseline: float,
              status: str = "submitted", actions: tuple[str, ...] = (), cost: float | None = None, **extra) -> Path:
    d = root / name
    d.mkdir(parents=True)
    rec = {"schema": "mlgym-run/1", "run_name": name, "method": method, "agent": method.split(":")[0],
           "model": None, "task": {"id": "myTask", "metric": "loss", "higher_is_better": False},
           "exit_status": status, "scores": scores, "baseline": {"loss": baseline}, "steps": len(actions),
           "cost": {"total_cost": cost} if cost is not None else {}, **extra}
    if scale is not None:
        rec["scale"] = scale
    (d / "run.json").write_text(json.dumps(rec))
    (d / "results.json").write_text(json.dumps({"agent": scores, "baseline": {"loss": baseline}}))
    if actions:
        steps = [{"action": a, "observation": "", "response": "", "state": "{}", "thought": "", "execution_time": 0}
                 for a in actions]
        (d / "myTask.traj").write_text(json.dumps({"environment": "mlgym_main", "trajectory": steps, "history": [],
                                                  "info": {"exit_status": status}}))
    return d


def report(*args: str) -> tuple[dict, str]:
    res = CliRunner().invoke(cli, ["report", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), res.stderr


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    # full scale: baseline loss 1.0; smoke scale: baseline loss 2.0 (a smoke score of 1.5 would beat the
    # full baseline if the two were pooled)
    write_run(root, "a-full-0", method="agentA", scale="full", scores=[{"loss": 0.5}], baseline=1.0,
              actions=("open baseline.py", "edit 1:2\nx\nend_of_edit", "python train.py", "validate", "submit"))
    write_run(root, "a-smoke-0", method="agentA", scale="smoke", scores=[{"loss": 1.5}], baseline=2.0,
              actions=("ls -F", "python train.py", "submit"))
    write_run(root, "b-smoke-0", method="agentB", scale="smoke", scores=[{"loss": 1.8}], baseline=2.0,
              actions=("cat x", "submit"))
    write_run(root, "a-old-0", method="agentA", scale="default", scores=[{"loss": 0.6}], baseline=1.0,
              actions=("submit",))  # recorded before scales were resolved: the task's first scale
    # not the agent's doing: a dataset that could not be fetched, a run stopped by the user
    write_run(root, "b-full-data", method="agentB", scale="full", scores=[], baseline=1.0,
              status="unknown_error (DatasetUnavailableError: dataset 'x' could not be fetched)",
              error="DatasetUnavailableError: dataset 'x' could not be fetched")
    write_run(root, "b-full-stop", method="agentB", scale="full", scores=[], baseline=1.0, status="interrupted")
    return root


def test_scales_are_reported_apart(runs):
    obj, _ = report(str(runs))
    assert obj["scale"] == "full" and set(obj["other_scales"]) == {"smoke"}
    smoke = obj["other_scales"]["smoke"]
    assert obj["methods"]["baseline"]["scores"]["myTask"]["best_attempt"] == 1.0
    assert smoke["methods"]["baseline"]["scores"]["myTask"]["best_attempt"] == 2.0
    assert obj["methods"]["agentA"]["scores"]["myTask"]["best_attempt"] == 0.5  # the smoke 1.5 is not here
    assert obj["methods"]["agentA"]["runs"] == 2 and smoke["methods"]["agentA"]["runs"] == 1
    assert smoke["methods"]["agentA"]["scores"]["myTask"]["best_attempt"] == 1.5
    assert obj["methods_compared"] == ["agentA", "baseline"]  # agentB only has excluded runs at full scale
    assert smoke["methods_compared"] == ["agentA", "agentB", "baseline"]
    assert smoke["scale"] == "smoke"


def test_infrastructure_failures_and_interrupted_runs_are_left_out_and_listed(runs):
    obj, err = report(str(runs))
    reasons = {Path(e["run"]).name: e["reason"] for e in obj["excluded"]}
    assert reasons == {"b-full-stop": "interrupted",
                       "b-full-data": "infrastructure failure: the run crashed: DatasetUnavailableError: dataset 'x' "
                                      "could not be fetched"}
    assert "left out 2 run(s) that say nothing of the agent: 1 infrastructure failure, 1 interrupted" in err
    # agentB is not made an infeasible method of the full-scale task by a dataset error
    assert "agentB" not in obj["methods"]


def test_analysis_per_method(runs):
    obj, _ = report(str(runs))
    a = obj["methods"]["agentA"]
    assert a["action_counts"] == {"Edit": 1, "Python": 1, "Submit": 2, "Validate": 1, "View": 1}
    assert a["mean_steps"] == {"myTask": 3.0}  # 5 and 1 steps
    assert a["failure_modes"] == {"Success": 2}
    assert obj["other_scales"]["smoke"]["methods"]["agentB"]["action_counts"] == {"Bash": 1, "Submit": 1}


def write_mlgym_run(root: Path, k: int, status: str, score: float) -> None:
    """A run in MLGym's published layout (no run.json): every exit status counts as the agent's."""
    d = root / f"{LONG}__battleOfSexes__cfg__t-0.00__run_{k}"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"agent": [{"Score": score}], "baseline": {"Score": 1.0}}))
    (d / "battleOfSexes.traj").write_text(json.dumps({"environment": "mlgym_main", "trajectory": [], "history": [],
                                                     "info": {"exit_status": status}}))


def test_terminal_tables_fit_and_exit_statuses_are_constants(tmp_path):
    root = tmp_path / "runs"
    text = "ValueError, could not convert string to float: 'abc' in row 17 of the submission, (submit)"
    write_mlgym_run(root, 0, text, 1.0)
    write_mlgym_run(root, 1, "submitted", 1.123456789)
    obj, _ = report(str(root))
    assert obj["methods"][LONG]["exit_status_counts"] == {"ValueError (submit)": 1, "submitted": 1}
    assert obj["methods"][LONG]["exit_status_texts"] == {"ValueError (submit)": [text]}
    res = CliRunner().invoke(cli, ["report", str(root)])  # not a terminal: 80 columns
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out  # folded, never cut
    assert LONG in "".join(ch for ch in out if ch.isalnum() or ch in ":-")  # the whole name, wrapped
    assert "1.123" in out and "1.123456789" not in out  # 4 significant digits for people
    assert f"ValueError (submit): {text}" in out.replace("\n", "")  # the text, once, under the table
    assert obj["methods"][LONG]["scores"]["battleOfSexes"]["best_attempt"] == 1.123456789  # JSON: full precision


def test_figures_without_library_warnings(runs, tmp_path, monkeypatch):
    import os

    pytest.importorskip("matplotlib")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # draw in this process, where stderr is captured
    res = CliRunner().invoke(cli, ["report", str(runs), "--plots", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    names = {p.name for p in (tmp_path / "p").iterdir()}
    assert {"action_distribution.png", "steps_per_task.png", "exit_status.png", "smoke_action_distribution.png",
            "smoke_steps_per_task.png"} <= names
    assert "Warning" not in res.stderr and "legend" not in res.stderr  # no run has a cost: no empty legend
