"""`mlgym grade --task ID DIR`: a folder of artifacts graded by the pristine evaluator, standalone."""

from __future__ import annotations

import json

from .conftest import needs_bwrap, needs_games
from .test_run import mlgym


@needs_games
@needs_bwrap
def test_grade_prints_metrics_and_writes_json(tmp_path):
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "strategy.py").write_text("def row_strategy(history):\n    return 0\n")
    before = sorted(p.name for p in art.iterdir())
    out = tmp_path / "g.json"
    r = mlgym("grade", "--task", "battleOfSexes", str(art), "--json-out", str(out))
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())
    assert rec["task"] == "battleOfSexes" and rec["error"] is None and rec["beats_baseline"] is True
    assert 1.40 < rec["metrics"]["Score"] < 1.48
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("Score"))
    assert "(priority metric)" in line and "baseline 1.023" in line
    assert sorted(p.name for p in art.iterdir()) == before  # the folder is only read


@needs_games
@needs_bwrap
def test_grade_without_the_artifact_fails_in_one_line(tmp_path):
    out = tmp_path / "g.json"
    r = mlgym("grade", "--task", "battleOfSexes", str(tmp_path), "--json-out", str(out))
    assert r.returncode == 1
    assert r.stderr.startswith("mlgym: error: SubmissionNotFoundError") and r.stderr.count("\n") == 1
    assert json.loads(out.read_text())["error"].startswith("SubmissionNotFoundError")
