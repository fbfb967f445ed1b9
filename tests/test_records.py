"""Trajectory writing: atomic, readable at every point, and equal to a plain JSON dump."""

from __future__ import annotations

import json

import pytest

from mlgym_core.records import TrajectoryWriter, new_trajectory


def test_incremental_writer_matches_a_full_dump(tmp_path):
    path = tmp_path / "t.traj"
    w = TrajectoryWriter(path)
    traj = new_trajectory()
    for i in range(30):
        traj["trajectory"].append({"action": f"echo {i}", "observation": "é" * i, "response": "", "state": "{}",
                                   "thought": "", "execution_time": 0.1})
        traj["history"].append({"role": "user", "content": f"obs {i}", "agent": "primary_0"})
        traj["history"][-1]["content"] += " (amended)"  # the newest item may still change
        if i == 10:
            traj["history"][0] = {"role": "system", "content": "replaced", "agent": "primary_0"}
        traj["info"]["score"].append({"Score": i})
        w.write(traj)
        assert json.loads(path.read_text()) == json.loads(json.dumps(traj))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_writer_handles_a_shrunk_list(tmp_path):
    path = tmp_path / "t.traj"
    w = TrajectoryWriter(path)
    traj = new_trajectory()
    traj["history"] = [{"content": str(i)} for i in range(10)]
    w.write(traj)
    traj["history"] = traj["history"][:3]
    w.write(traj)
    assert json.loads(path.read_text())["history"] == [{"content": "0"}, {"content": "1"}, {"content": "2"}]


# -- run.json: the typed record --------------------------------------------------------------------

def test_an_older_run_record_loads_with_its_statuses_split(tmp_path):
    from mlgym_core.records import RunRecord

    v1 = {"schema": "mlgym-run/1", "task": {"id": "t", "metric": "loss", "higher_is_better": False},
          "method": "a", "scale": "default", "scores": [{"loss": 0.5}, {"loss": 0.3}, {"x": 1}],
          "exit_status": "unknown_error (SandboxError: bwrap died\nmore)", "error": None, "added_later": [1]}
    rec = RunRecord.parse(v1, "run.json")
    assert (rec.exit_status, rec.error) == ("unknown_error", "SandboxError: bwrap died")
    assert rec.scale == "default" and rec.max_steps is None and rec.cost.tokens_sent is None  # defaults
    assert rec.infra_failure() == "the run crashed: SandboxError: bwrap died"
    assert rec.to_json()["added_later"] == [1]  # unknown fields survive a read and a write
    ev = RunRecord.parse({"exit_status": "ValueError, bad row 3, (submit)"}, "run.json")
    assert (ev.exit_status, ev.exit_reason, ev.error) == ("ValueError (submit)", "ValueError: bad row 3", None)
    assert ev.infra_failure() == "the evaluator failed: ValueError (submit) (ValueError: bad row 3)"
    assert RunRecord.parse({"exit_status": "autosubmission (max_steps)"}, "x").exit_status == \
        "autosubmission (max_steps)"


def test_a_run_record_of_the_wrong_shape_is_one_line_naming_file_and_field(tmp_path):
    from mlgym_core.errors import MlgymError
    from mlgym_core.records import RunRecord

    (tmp_path / "run.json").write_text(json.dumps({"task": {"id": "t"}, "cost": {"tokens_sent": "many"}}))
    with pytest.raises(MlgymError, match=r"run.json: field 'cost.tokens_sent': .*integer"):
        RunRecord.read(tmp_path / "run.json")
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(MlgymError, match=r"run.json: expected a JSON object"):
        RunRecord.read(tmp_path / "run.json")
