"""Baselines per scale: each scale's baseline is the one the reward, the validate output, the task
prompt and the run record use; the scale is resolved where a run enters (never "default" on record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgym_core.errors import DescriptorError, MlgymError
from mlgym_core.specs import load_tasks

from .conftest import needs_bwrap, needs_games

TASK_YAML = """\
id: guessScaled
name: Guess the number at two scales
description: |-
  Write a number into answer.txt. A simple guess scores {baseline:closeness} here.
submission: csv
metric: closeness
baseline_scores: {closeness: 50.0}
scale_baselines:
  smoke: {scores: {closeness: 70.0}, stderr: {closeness: 0.5}, runs: 4, note: "measured on a test box"}
starter_files: [evaluate.py]
read_only: [evaluate.py]
artifacts: [answer.txt]
required_artifacts: [answer.txt]
training_timeout: 60
scales: [full, smoke]
"""
EVALUATE = """\
import json
print(json.dumps({"closeness": 100 - abs(float(open("answer.txt").read()) - 60)}))
"""


def make_spec(root: Path, text: str = TASK_YAML):
    folder = root / "tasks" / "guessScaled"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(text)
    (folder / "evaluate.py").write_text(EVALUATE)
    return load_tasks(root / "tasks", plugin="test")[0]


def test_baseline_of_each_scale(tmp_path):
    spec = make_spec(tmp_path)
    assert spec.resolve_scale("default") == spec.resolve_scale(None) == "full"
    assert spec.baseline_for("default") == spec.baseline_for("full") == {"closeness": 50.0}
    assert spec.baseline_for("smoke") == {"closeness": 70.0}
    assert spec.scale_baselines["smoke"].stderr == {"closeness": 0.5} and spec.scale_baselines["smoke"].runs == 4
    with pytest.raises(MlgymError, match="has no scale 'huge'"):
        spec.resolve_scale("huge")


def test_a_scale_without_a_measured_baseline_has_none(tmp_path):
    text = "".join(ln for ln in TASK_YAML.splitlines(keepends=True) if "scale_baselines" not in ln
                   and "smoke: {scores" not in ln)
    spec = make_spec(tmp_path, text)
    assert spec.scales == ("full", "smoke") and not spec.scale_baselines
    assert spec.baseline_for("smoke") == {}  # never the full-scale one
    assert spec.baseline_for("full") == {"closeness": 50.0}


def test_scale_baselines_must_name_another_scale(tmp_path):
    with pytest.raises(DescriptorError, match=r"task\.yaml.*scale_baselines: 'full' must be one of the other"):
        make_spec(tmp_path, TASK_YAML.replace("  smoke: {scores", "  full: {scores"))


def test_scale_baselines_need_the_priority_metric(tmp_path):
    with pytest.raises(DescriptorError, match="scale_baselines: 'smoke' has no score for the priority metric "
                                              "'closeness'"):
        make_spec(tmp_path, TASK_YAML.replace("{scores: {closeness: 70.0}", "{scores: {other: 70.0}"))


@needs_bwrap
@pytest.mark.parametrize("scale,baseline", [("smoke", 70.0), ("full", 50.0)])
def test_env_uses_the_baseline_of_the_scale_that_runs(tmp_path, scale, baseline):
    from mlgym_core.env import MLGymEnv

    env = MLGymEnv(make_spec(tmp_path), scale=scale, work_dir=tmp_path / "w")
    try:
        prompt, info = env.reset(seed=0)
        assert info["scale"] == scale
        assert f"A simple guess scores {baseline:g} here." in prompt
        env.step("echo 65 > answer.txt")  # closeness 95
        obs, reward, *_ = env.step("validate")
        assert obs.split("\n")[1:] == [f"Baseline Score: {{'closeness': {baseline}}}", "Evaluation Score: "
                                       "{'closeness': 95.0}"]
        assert reward == pytest.approx(95.0 - baseline)
    finally:
        env.close()


def test_unknown_scale_is_refused_before_a_run_directory_is_made(tmp_path):
    from mlgym_core.run import RunSpec, run_episode

    with pytest.raises(MlgymError, match="has no scale 'smoke'"):
        run_episode(RunSpec(task="battleOfSexes", agent="baseline", scale="smoke", output=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


@needs_games
@needs_bwrap
def test_run_record_holds_the_resolved_scale_and_its_baseline(tmp_path):
    from mlgym_core.registry import get_task
    from mlgym_core.run import RunSpec, run_episode

    rec = run_episode(RunSpec(task="battleOfSexes", agent="baseline", output=str(tmp_path), max_steps=3))
    on_disk = json.loads((Path(rec["run_dir"]) / "run.json").read_text())
    assert on_disk["scale"] == on_disk["spec"]["scale"] == "full"
    base = get_task("battleOfSexes").baseline_for("full")
    assert on_disk["baseline"] == base
    assert json.loads((Path(rec["run_dir"]) / "results.json").read_text())["baseline"] == base


def test_every_installed_task_has_a_baseline_at_each_scale():
    from mlgym_core.registry import collect

    missing = [f"{t.id} [{scale}]" for t in collect("tasks") for scale in t.scales
               if t.metric not in t.baseline_for(scale)]
    assert missing == []


@needs_games
def test_list_tasks_json_shows_the_baseline_of_each_scale():
    from click.testing import CliRunner

    from mlgym_core.cli import cli

    res = CliRunner().invoke(cli, ["list", "tasks", "--json"])
    assert res.exit_code == 0, res.output
    bos = next(t for t in json.loads(res.stdout) if t["id"] == "battleOfSexes")
    assert bos["scales"] == ["full"] and bos["baselines"] == {"full": bos["baseline"]}
