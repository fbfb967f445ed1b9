"""``mlgym run --task <id> --agent baseline --scale smoke`` end to end, in the bubblewrap sandbox, for every
task of the pack; scores asserted in the range the synthetic data gives (chance is 0.1 for 10 classes)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mlgym_core.cli import cli

from .conftest import needs_bwrap, needs_torch

RANGES = {
    "imageClassificationCifar10": (0.45, 0.9),    # measured 0.645
    "imageClassificationFMnist": (0.5, 0.9),      # measured 0.705
    "imageClassificationCifar10L1": (0.45, 0.9),  # the main task's baseline.py, piped in: measured 0.645
    "imageCaptioningCOCO": (0.3, 0.85),           # corpus BLEU-4, measured 0.56; constant caption scores ~0
}


@needs_torch
@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("task_id", sorted(RANGES))
def test_smoke_baseline_run(task_id, tmp_path):
    res = CliRunner().invoke(cli, ["run", "--task", task_id, "--agent", "baseline", "--scale", "smoke",
                                   "--output", str(tmp_path)])
    assert res.exit_code == 0, res.output
    (run_dir,) = tmp_path.iterdir()
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["exit_status"] == "submitted", rec
    assert rec["isolation"] == "bwrap" and rec["scale"] == "smoke"
    metric = rec["task"]["metric"]
    validate, submit = rec["scores"]  # validate, then submit: the same grader on the same data
    assert validate == submit
    lo, hi = RANGES[task_id]
    assert lo <= submit[metric] <= hi, (task_id, submit)
    if task_id == "imageClassificationCifar10L1":  # the script ran from a here-document, never in the workspace
        traj = json.loads((run_dir / f"{task_id}.traj").read_text())
        first = traj["trajectory"][0]
        assert first["action"].startswith("python - <<") and "wrote submission.csv" in first["observation"]
    if task_id == "imageCaptioningCOCO":
        assert set(submit) == {"BLEU Score", "BLEU-1", "char_sentence_bleu"}
