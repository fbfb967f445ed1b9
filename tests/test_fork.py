"""Branching an episode: fork() diverges independently; snapshot()/restore() give the same observation."""

from __future__ import annotations

import json

import pytest

from mlgym_core.env import MLGymEnv
from mlgym_core.errors import MlgymError

from .conftest import needs_games

pytestmark = needs_games

# what a shell observation shows, the files' and folders' times to the nanosecond included (cwd is sub/,
# so `..` is the workspace itself, whose times neither the capture's nor the restore's own file changes)
OBSERVE = "pwd; env | sort; command ls -la --time-style=full-iso"
SETUP = ["mkdir -p sub && cd sub && echo parent > f.txt && export FOO='two words' BAR=$'x\\ny'",
         "greet() { echo \"hello $1\"; }; declare() { echo hijacked; }; alias hi='echo alias-hi'; "
         "unset MLGYM_TASK_ID; export -n PAGER; export PAGER; PLAIN=1"]
STATE = ("pwd; echo \"$FOO|$BAR|${MLGYM_TASK_ID-unset}|$PAGER\"; env | grep -c ^PAGER=; greet you; hi; declare; "
         "cat f.txt")


@pytest.fixture
def env(tmp_path):
    e = MLGymEnv("battleOfSexes", max_steps=20, prestart=False, work_dir=tmp_path / "work")
    e.reset(seed=5)
    for action in SETUP:
        e.step(action)
    yield e
    e.close()


def test_fork_equals_the_parent_then_diverges_both_ways(env):
    before = env.step(STATE)[0]
    child = env.fork()
    try:
        assert child.fork_info["workspace_copy"] in ("reflink", "copy")
        assert child.workspace_host != env.workspace_host
        assert (child.current_step, child.history, child.best) == (env.current_step, env.history, env.best)
        assert child.step(STATE)[0] == before  # cwd, exported and unset variables, function, alias, files
        assert before.splitlines() == ["/home/agent/workspace/sub", "two words|x", "y|unset|cat", "1", "hello you",
                                       "alias-hi", "hijacked", "parent"]
        assert child.step("echo ${PLAIN-unset}")[0] == "unset" and env.step("echo $PLAIN")[0] == "1"  # not exported
        child.step("echo child > f.txt; export FOO=child; cd ..; greet() { echo changed; }; unalias hi")
        assert env.step(STATE)[0] == before  # the parent did not see the child's changes
        env.step("echo parent2 > f.txt; export BAR=p2; touch only-parent")
        obs = child.step("pwd; echo $FOO $BAR; greet; type hi; cat sub/f.txt; ls sub")[0]
        assert obs.splitlines()[:3] == ["/home/agent/workspace", "child x y", "changed"]
        assert "hi: not found" in obs and obs.splitlines()[-2:] == ["child", "f.txt"]
        assert (env.current_step, child.current_step) == (6, 7)  # each counts its own steps from step 3
        assert len(child.history) == 7 and child.history[:3] == env.history[:3]
        assert child.history[3]["action"] == STATE != env.history[3]["action"]
    finally:
        child.close()
    assert env.step("cat f.txt")[0] == "parent2"  # closing the child leaves the parent running


def test_fork_carries_scores_and_best(env):
    obs, reward, *_ = env.step("validate")
    assert "Evaluation Score" in obs
    child = env.fork()
    try:
        assert child.scores == env.scores and child.best == env.best and child.scores
        obs, _, term, _, info = child.step("submit")
        assert term and info["exit_status"] == "submitted" and len(info["scores"]) == 2
        assert len(env.scores) == 1 and not env._done  # the parent's episode goes on
    finally:
        child.close()


def test_snapshot_restores_an_identical_observation(env, tmp_path):
    import os

    mtime = os.stat(env.workspace_host).st_mtime_ns
    snap = env.snapshot(tmp_path / "snap")
    assert os.stat(env.workspace_host).st_mtime_ns == mtime  # the capture's file came and went unseen
    state = json.loads((snap / "state.json").read_text())
    assert (state["task"], state["seed"], state["history"]["step"]) == ("tasks_games/battleOfSexes", 5, 2)
    assert (snap / "workspace" / "sub" / "f.txt").read_text() == "parent\n"
    original = env.step(OBSERVE)[0]
    env.step("rm -rf sub; export FOO=gone")  # the snapshot does not follow the original
    restored = MLGymEnv.restore(snap, work_dir=tmp_path / "work2")
    try:
        assert restored.current_step == 2 and restored.history == env.history[:2]
        again = restored.step(OBSERVE)[0]
        assert again == original
        assert "FOO=two words" in again and "LAST_ACTION=greet()" in again and "f.txt" in again
        assert restored.step(STATE)[0].splitlines()[-4:] == ["hello you", "alias-hi", "hijacked", "parent"]
    finally:
        restored.close()


def test_a_moved_snapshot_restores_in_another_process(env, tmp_path):
    """Later or elsewhere: the snapshot folder is copied to another place, the original removed, and
    a fresh Python process restores it and sees what the original saw."""
    import os
    import shutil
    import subprocess
    import sys

    first = tmp_path / "snap"
    env.snapshot(first)
    original = env.step(OBSERVE)[0]
    moved = tmp_path / "elsewhere" / "snap"
    shutil.copytree(first, moved, symlinks=True)  # keeps modes and times, as rsync -a or tar would
    shutil.rmtree(first)
    code = ("import sys; from mlgym_core.env import MLGymEnv\n"
            "e = MLGymEnv.restore(sys.argv[1], work_dir=sys.argv[2])\n"
            "try:\n    sys.stdout.write(e.step(sys.argv[3])[0])\nfinally:\n    e.close()\n")
    r = subprocess.run([sys.executable, "-c", code, str(moved), str(tmp_path / "work3"), OBSERVE],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == original


def test_fork_and_restore_refuse_what_they_cannot_use(tmp_path):
    e = MLGymEnv("battleOfSexes", prestart=False, work_dir=tmp_path / "work")
    try:
        with pytest.raises(MlgymError, match="call reset"):
            e.fork()
        (tmp_path / "nosnap").mkdir()
        with pytest.raises(MlgymError, match=r"nosnap/state.json: not an episode snapshot"):
            e.reset(options={"snapshot": tmp_path / "nosnap"})
    finally:
        e.close()


def test_replay_until_then_resume_with_another_agent(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "bos_always_zero.traj"

    def mlgym(*args):
        return subprocess.run([sys.executable, "-m", "mlgym_core", *args, "--task", "battleOfSexes"],
                              capture_output=True, text=True, timeout=300, env=dict(os.environ))

    r = mlgym("replay", str(fixture), "--until", "3", "--output", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    (run_a,) = (tmp_path / "a").iterdir()
    state = json.loads((run_a / "snapshot" / "state.json").read_text())
    assert state["history"]["step"] == 3 and "row_strategy" in state["history"]["history"][2]["action"]
    assert json.loads((run_a / "run.json").read_text())["scores"] == []  # stopped before validate
    r = mlgym("run", "--agent", "baseline", "--resume-from", str(run_a / "snapshot"), "--output",
              str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    (run_b,) = (tmp_path / "b").iterdir()
    run = json.loads((run_b / "run.json").read_text())
    actions = [s["action"] for s in json.loads((run_b / "battleOfSexes.traj").read_text())["trajectory"]]
    recorded = [s["action"] for s in json.loads(fixture.read_text())["trajectory"]]
    assert actions == recorded[:3] + ["validate", "submit"] and run["steps"] == 5
    assert run["exit_status"] == "submitted"
    assert run["scores"][0]["Score"] == pytest.approx(1.44, abs=0.04)  # the replayed strategy, not the starter's
    r = mlgym("replay", str(fixture), "--until", "0", "--output", str(tmp_path / "c"))
    assert r.returncode != 0 and "--until must be a positive integer" in r.stderr


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the host reads as root only when mlgym runs as root")
def test_a_link_swapped_in_for_the_shell_state_file_is_not_followed(env, tmp_path):
    """The agent's background process swaps the shell-state file fork() reads for a link to a
    root-only host file: the host must never read through it."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOSTSECRET=leaked\n")
    secret.chmod(0o600)
    swapper = ("import os\nwhile True:\n    for n in os.listdir('.'):\n        if n.startswith('.mlgym-shell-state-'):\n"
               f"            try:\n                os.unlink(n); os.symlink({str(secret)!r}, n)\n"
               "            except OSError:\n                pass\n")
    env.step(f"cat > /tmp/swap.py <<'EOF'\n{swapper}EOF\n(python /tmp/swap.py >/dev/null 2>&1 &)")
    children = []
    try:
        for _ in range(8):
            try:
                child = env.fork()
            except MlgymError as exc:
                assert "leaked" not in str(exc)
                continue
            children.append(child)
            obs, *_ = child.step("echo ${HOSTSECRET:-none}; env | grep -c leaked")
            assert "leaked" not in obs.split()[0] and obs.split()[-1] == "0", obs
    finally:
        for c in children:
            c.close()
