"""benchmarks/full_scale/: each family's script runs in its --dry-run mode on a CPU in seconds, lays out
every task's workspace and grader folder, and names the published figure it compares with; without the
data, each CV/NLP task gets one line naming what is missing; measured figures are set against the
published ones with their standard error."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parent.parent / "benchmarks" / "full_scale"
FAMILIES = {
    "rl": ("mlgym_tasks_rl", {"rlMetaMazeMisc": "Reward Mean 15.73", "rlMountainCarContinuous": "Reward Mean 33.79"}),
    "cv": ("mlgym_tasks_cv", {"imageClassificationFMnist": "accuracy 0.7835",
                              "imageClassificationCifar10": "accuracy 0.4971",
                              "imageCaptioningCOCO": "BLEU Score 0.2794"}),
    "nlp": ("mlgym_tasks_nlp", {"naturalLanguageInferenceMNLI": "validation_accuracy 52.51",
                                "languageModelingFineWeb": "val_loss 4.673"}),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_dry_run_lays_out_every_task_and_names_the_published_figure(family, tmp_path):
    package, expected = FAMILIES[family]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    r = subprocess.run([sys.executable, str(FOLDER / f"{family}.py"), "--dry-run", "--work", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(expected)
    for line, (task, figure) in zip(lines, expected.items()):
        assert line.startswith(f"{task}: would run `") and line.endswith(f"; published {figure}")
        grader = tmp_path / task / "grader"
        assert (tmp_path / task / "ws").is_dir() and (grader / "evaluate.py").is_file()
        assert "then `python evaluate.py" in line


def test_measured_figures_are_set_against_the_published_one_with_their_standard_error():
    pytest.importorskip("mlgym_tasks_rl")
    sys.path.insert(0, str(FOLDER))
    try:
        from _host import Outcome, compare_line, report
    finally:
        sys.path.remove(str(FOLDER))
    line = compare_line("rlMountainCarContinuous", [30.0, 34.0, 32.0])  # mean 32, se 1.1547
    assert line == ("rlMountainCarContinuous Reward Mean: measured 32 (+- 1.15, 3 runs) vs published 33.79: "
                    "-1.794 = -1.6 se")
    smoke = compare_line("rlMountainCarContinuous", [-0.2], scale="smoke")  # recorded: -0.205444145
    assert smoke.endswith("measured -0.2 (1 run) vs recorded smoke baseline -0.2054: +0.005444")
    missing = report(Outcome("rlMetaMazeMisc", reason="data missing: x"))
    assert missing == "rlMetaMazeMisc Reward Mean: not measured (data missing: x); published 15.73"


@pytest.mark.parametrize("family", ["cv", "nlp"])
def test_without_the_data_each_task_gets_one_line_naming_what_is_missing(family, tmp_path):
    package, expected = FAMILIES[family]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    env = {k: v for k, v in os.environ.items() if k != "MLGYM_DATA_DIR"}
    env.update(MLGYM_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"))
    r = subprocess.run([sys.executable, str(FOLDER / f"{family}.py"), "--work", str(tmp_path / "w"), "--budget", "60"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()[1:]  # after "working folder: ..."
    assert len(lines) == len(expected)
    for line, (task, figure) in zip(lines, expected.items()):
        dataset = line.split("data missing: dataset '")[1].split("'")[0]
        assert line.startswith(f"{task} ") and "not measured" in line
        assert line.endswith(f"; published {figure.split()[-1]}")
        assert f"$MLGYM_DATA_DIR/{dataset}/" in line
