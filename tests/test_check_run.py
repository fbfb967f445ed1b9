"""`mlgym check --run`: each task's baseline through its pristine evaluator in the local sandbox; and
`mlgym check` reporting a plugin that registers nothing."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgym_core import hookimpl, load_tasks
from mlgym_core.checks import check_baseline, direction_problem, run_checks
from mlgym_core.cli import cli
from mlgym_core.testing import fixture_task, make_task_spec, registered

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def _task(root: Path, task_id: str, evaluator: str, **fields) -> None:
    """A task folder: answer.txt holds 3; ``evaluator`` is the body of evaluate.py."""
    d = root / task_id
    d.mkdir(parents=True)
    (d / "answer.txt").write_text("3\n")
    (d / "evaluate.py").write_text(textwrap.dedent(evaluator))
    desc = {"id": task_id, "name": task_id, "description": "Write a number into answer.txt.",
            "submission": "csv",
            "metric": "MSE", "higher_is_better": False, "baseline_scores": {"MSE": 4.0},
            "starter_files": ["answer.txt"], "artifacts": ["answer.txt"], "required_artifacts": ["answer.txt"],
            "training_timeout": 30, **fields}
    (d / "task.yaml").write_text(json.dumps(desc))  # JSON is YAML


class _Pack:
    def __init__(self, root: Path) -> None:
        self.root = root

    @hookimpl
    def register_tasks(self):
        return load_tasks(self.root, plugin="pack")


GOOD = "import json\nx = float(open('answer.txt').read())\nprint(json.dumps({'MSE': (x - 1) ** 2}))\n"


@pytest.fixture
def pack(tmp_path, core_only):
    root = tmp_path / "tasks"
    _task(root, "good", GOOD)
    _task(root, "lowercase", "import json\nprint(json.dumps({'mse': 4.0}))\n")
    _task(root, "crashes", "import json\nraise ValueError('no labels file')\n")
    _task(root, "nan", "print('{\"MSE\": NaN}')\n")
    _task(root, "wrongWay", "import json\nprint(json.dumps({'val_loss': 4.0}))\n", metric="val_loss",
          higher_is_better=True, baseline_scores={"val_loss": 4.0})
    _task(root, "badCommand", GOOD, baseline_command="python -c 'import sys; sys.exit(\"no data here\")'")
    _task(root, "bigGpu", GOOD, resources={"gpus": 1})
    _task(root, "smokeScale", "import json\nprint(json.dumps({'MSE': 0.5}))\n", resources={"gpus": 1},
          scales=["full", "smoke"])
    with registered(_Pack(root), name="pack"):
        yield {t.id: t for t in load_tasks(root, plugin="pack")}


def test_good_baseline_passes_with_its_metrics(pack):
    row = check_baseline(pack["good"])
    assert (row.status, row.metrics, row.scale, row.detail) == ("ok", {"MSE": 4.0}, "full", "")


def test_metric_name_differing_in_case_fails_and_says_so(pack):
    row = check_baseline(pack["lowercase"])
    assert row.status == "fail"
    assert "reported no 'MSE'" in row.detail and "case differs: the evaluator prints 'mse' for 'MSE'" in row.detail


def test_crashing_evaluator_fails_with_its_error(pack):
    row = check_baseline(pack["crashes"])
    assert row.status == "fail" and "exited with status 1" in row.detail and "ValueError: no labels file" in row.detail


def test_non_finite_metric_fails(pack):
    row = check_baseline(pack["nan"])
    assert row.status == "fail" and "not a finite number" in row.detail


def test_direction_that_reads_the_other_way_fails(pack):
    row = check_baseline(pack["wrongWay"])
    assert row.status == "fail" and row.metrics == {"val_loss": 4.0}
    assert row.detail == "metric 'val_loss' reads as lower-is-better, but the task says higher_is_better: true"
    assert direction_problem(make_task_spec(metric="Reward Mean")) == ""
    assert direction_problem(make_task_spec(metric="Time", higher_is_better=False)) == ""
    assert "higher-is-better" in direction_problem(make_task_spec(metric="accuracy", higher_is_better=False))


def test_failing_baseline_command_fails(pack):
    row = check_baseline(pack["badCommand"])
    assert row.status == "fail" and row.detail.startswith("the baseline command exited with status 1")
    assert "no data here" in row.detail


def test_gpu_task_without_smoke_scale_is_skipped_and_smoke_is_preferred(pack):
    row = check_baseline(pack["bigGpu"])
    assert row.status == "skip" and "needs 1 GPU(s)" in row.detail and row.seconds == 0
    row = check_baseline(pack["smokeScale"])
    assert (row.status, row.scale, row.metrics) == ("ok", "smoke", {"MSE": 0.5})
    assert check_baseline(pack["bigGpu"], scale="full").status == "ok"  # asked for: run anyway


def test_cli_table_and_exit_status(pack):
    ok = CliRunner().invoke(cli, ["check", "--run", "good", "smokeScale"])
    assert ok.exit_code == 0, ok.output
    assert "pack/good" in ok.output and "MSE 4" in ok.output and "all checks passed" in ok.output
    bad = CliRunner().invoke(cli, ["check", "--run", "good", "lowercase"])
    assert bad.exit_code == 1
    assert "pack/lowercase" in bad.output and "fail" in bad.output and "all checks passed" not in bad.output


def test_fixture_task_baseline_passes(core_only):
    with fixture_task() as spec:
        row = check_baseline(spec)
    assert (row.status, row.metrics) == ("ok", {"Score": 98.0})


def test_plugin_that_registers_nothing_is_a_failure(tmp_path, core_only):
    class Empty:  # a task pack built without its task.yaml files
        @hookimpl
        def register_tasks(self):
            return load_tasks(tmp_path)

    with registered(Empty(), name="empty_pack"):
        failures = run_checks()
        res = CliRunner().invoke(cli, ["check"])
    assert failures == ["plugin 'empty_pack' (test 0): register_tasks() registered no tasks "
                        "(are its task.yaml files shipped as package data?)"]
    assert res.exit_code == 1 and "register_tasks() registered no tasks" in res.output


def test_a_task_whose_own_code_fails_fails_its_row_only(tmp_path, core_only):
    root = tmp_path / "tasks"
    _task(root, "good", GOOD)
    _task(root, "badFactory", GOOD, factory="json:JSONDecoder")  # not a Task: the factory's error
    with registered(_Pack(root), name="pack"):
        res = CliRunner().invoke(cli, ["check", "--run", "good", "badFactory"])
    assert res.exit_code == 1
    rows = {ln.split()[0]: ln for ln in res.output.splitlines() if ln.strip().startswith("pack/")}
    assert " ok " in rows["pack/good"] and " fail " in rows["pack/badFactory"]
