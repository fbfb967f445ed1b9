"""The resource envelope of an episode: memory, disk, tmpfs, pids, CPU; each tried for real."""

from __future__ import annotations

import os

import pytest

from .conftest import needs_bwrap, out

pytestmark = needs_bwrap

HOG = "python3 -c \"b = []\nwhile True: b.append(b'x' * (32 << 20))\"; echo rc=$?"


def test_a_memory_hog_is_stopped_at_the_tasks_memory_limit(start_sandbox):
    box = start_sandbox(memory_gb=0.25)
    if "memory" not in box.envelope.applied:
        pytest.skip(f"no memory cgroup here: {box.envelope.missing.get('memory')}")
    res = box.run(HOG, 60)
    assert not res.timed_out and "rc=0" not in res.output
    assert "rc=137" in res.output or "MemoryError" in res.output, res.output[-500:]
    assert out(box, "echo alive").strip() == "alive"


def test_fallocate_of_5g_in_the_workspace_fails(start_sandbox):
    box = start_sandbox()
    # plain, sparse, and an allocation that keeps the size (which RLIMIT_FSIZE alone lets through)
    res = box.run("fallocate -l 5G big; echo rc=$?; truncate -s 5G sparse; echo rc=$?; "
                  "touch kept; fallocate -n -l 5G kept; echo rc=$?", 30)
    assert res.output.count("rc=0") == 0, res.output
    assert os.stat(box.workspace_host / "kept").st_blocks * 512 < 1 << 20
    for name in ("big", "sparse"):
        p = box.workspace_host / name
        assert not p.exists() or p.stat().st_size < 5 << 30
    assert "file_size" in box.envelope.applied


def test_writing_past_the_workspace_cap_in_many_files_is_stopped(start_sandbox, monkeypatch):
    monkeypatch.setenv("MLGYM_WORKSPACE_GB", "0.05")  # 51 MiB
    monkeypatch.setenv("MLGYM_DISK_CHECK_S", "0.1")
    box = start_sandbox()
    writer = ("python3 -c \"import time\nfor i in range(100):\n    open(f'f{i}', 'wb').write(b'x' * (5 << 20))\n"
              "    time.sleep(0.05)\nprint('wrote', 'all')\"; echo rc=$?")
    res = box.run(writer, 60)
    assert "wrote all" not in res.output and "over its cap" in res.output, res.output
    used = sum(f.stat().st_size for f in box.workspace_host.iterdir())
    assert used < 300 << 20  # 500 MiB unstopped; the cap plus what a few checks let through
    assert out(box, "rm -f f*; echo ok").strip() == "ok"  # the shell lives on


def test_tmpfs_writes_beyond_their_size_fail(start_sandbox):
    box = start_sandbox(memory_gb=0.25)  # /tmp, /home, /dev/shm: 256 MiB; /run: 64 MiB
    res = box.run("head -c 100M /dev/zero > /run/big; echo rc=$?; du -sm /run | cut -f1; "
                  "head -c 300M /dev/zero > /dev/shm/big; echo rc=$?; rm -f /dev/shm/big", 60)
    assert "No space left on device" in res.output and "rc=0" not in res.output, res.output
    assert int(res.output.split("rc=1")[1].split()[0]) <= 64
    df = out(box, "df -k /tmp /home /dev/shm /run").splitlines()[1:]
    sizes = {ln.split()[-1]: int(ln.split()[1]) for ln in df}
    assert sizes["/run"] <= 64 << 10 and max(sizes.values()) <= 256 << 10, sizes


def test_dev_is_read_only(start_sandbox):
    box = start_sandbox()
    res = box.run("echo x > /dev/stash; echo rc=$?; echo fine > /dev/null; echo rc=$?", 10)
    assert "rc=1" in res.output and res.output.strip().endswith("rc=0"), res.output


def test_cpu_and_pids_limits_are_applied_where_cgroups_allow(start_sandbox):
    box = start_sandbox(cpus=0.5, pids=64)
    env = box.envelope.record()
    if os.geteuid() != 0:
        assert {"pids", "cpu"} <= set(env["applied"]) | set(env["not_applied"])
        return
    assert env["applied"]["cpu"] == "cgroup cpu.cfs_quota_us=50000/100000"
    assert env["applied"]["pids"] == "cgroup pids.max=64"
    res = box.run("for i in $(seq 100); do sleep 5 & done 2>&1 | grep -c 'fork: retry\\|Resource' ; "
                  "jobs -p | wc -l", 30)
    assert int(res.output.split()[-1]) < 64, res.output


def test_run_json_records_the_envelope(tmp_path):
    pytest.importorskip("mlgym_tasks_games")
    import json
    from pathlib import Path

    from mlgym_core.run import RunSpec, run_episode

    traj = tmp_path / "t.traj"
    traj.write_text(json.dumps({"trajectory": [{"action": "echo hi"}]}))
    rec = run_episode(RunSpec(task="battleOfSexes", agent="replay", output=str(tmp_path / "runs"), max_steps=3,
                              agent_options={"trajectory": str(traj)}))
    saved = json.loads((Path(rec["run_dir"]) / "run.json").read_text())["resources"]
    assert "file_size" in saved["applied"] and "disk_total" in saved["applied"]
    assert ("memory" in saved["applied"]) == (os.geteuid() == 0) or "memory" in saved["not_applied"]


LEAVER = """
import sys
from mlgym_core.env import MLGymEnv
e = MLGymEnv("battleOfSexes", prestart=False)
e.reset()
print(e.workspace_host.parent, e.sandbox.config.tools_dir, *e.sandbox.envelope.cgroup.dirs
      if e.sandbox.envelope.cgroup else [], flush=True)
sys.stdin.read()
"""


def test_gc_removes_what_a_killed_run_left_and_spares_live_runs():
    pytest.importorskip("mlgym_tasks_games")
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from click.testing import CliRunner

    from mlgym_core.cli import cli
    from mlgym_core.env import MLGymEnv

    env = MLGymEnv("battleOfSexes", prestart=False)  # this process is alive: its episode must survive
    env.reset()
    live = env.sandbox
    p = subprocess.Popen([sys.executable, "-c", LEAVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    left = [Path(x) for x in p.stdout.readline().split()]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert left and all(x.exists() for x in left)  # kill -9 leaves them behind
    res = CliRunner().invoke(cli, ["gc"])
    assert res.exit_code == 0, res.output
    assert not [x for x in left if x.exists()], res.output
    try:
        assert live.workspace_host.exists() and out(live, "echo alive").strip() == "alive"
        if live.envelope.cgroup is not None:
            assert all(d.exists() for d in live.envelope.cgroup.dirs)
    finally:
        env.close()
