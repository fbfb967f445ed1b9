"""Trajectory writing: atomic, readable at every point, and equal to a plain JSON dump."""

from __future__ import annotations

import json

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
