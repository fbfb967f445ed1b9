"""The docker runtime against a real Docker engine: the same episode tests as the local runtime.

They need an engine (DOCKER_HOST or /var/run/docker.sock) and the image mlgym-agent:latest
(.ci/docker.sh starts dockerd and builds it); without them they skip, saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlgym_core import SandboxConfig

STATUS_FILE = os.environ.get("MLGYM_DOCKER_STATUS", "/tmp/mlgym-docker-status")


def _engine_problem() -> str | None:
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install docker)"
    try:
        cl = docker.from_env(timeout=10)
        cl.ping()
    except Exception as exc:
        note = ""
        if os.path.exists(STATUS_FILE):
            note = f" (.ci/docker.sh said: {Path(STATUS_FILE).read_text().strip()})"
        return f"no Docker engine reachable: {type(exc).__name__}: {str(exc)[:200]}{note}"
    image = os.environ.get("MLGYM_IMAGE", "mlgym-agent:latest")
    try:
        cl.images.get(image)
    except Exception:
        return f"image {image} not built (run .ci/docker.sh or mlgym image build)"
    return None


PROBLEM = _engine_problem()
if PROBLEM:
    print(f"\n[mlgym-runtimes] docker tests SKIPPED: {PROBLEM}", file=sys.stderr)
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=f"docker tests skipped: {PROBLEM}")
needs_games = pytest.mark.skipif(importlib.util.find_spec("mlgym_tasks_games") is None,
                                 reason="mlgym-tasks-games is not installed")


def _ours() -> list:
    import docker

    cl = docker.from_env()
    return [c for c in cl.containers.list(all=True, filters={"label": "mlgym.owner_pid"})
            if c.labels.get("mlgym.owner_pid") == str(os.getpid())]


@pytest.fixture(scope="module", autouse=True)
def no_container_left():
    yield
    left = _ours()
    from mlgym_runtimes.docker_runtime import stop_watcher

    stop_watcher()  # the reaper watching this process: no process of the suite outlives it
    assert not left, f"containers left behind: {[c.name for c in left]}"


@pytest.fixture(scope="module")
def runtime():
    from mlgym_runtimes.docker_runtime import DockerRuntime

    return DockerRuntime()


def test_fixture_task_baseline_end_to_end(tmp_path: Path) -> None:
    from mlgym_core.run import RunSpec, run_episode
    from mlgym_core.testing import fixture_task

    with fixture_task():
        rec = run_episode(RunSpec(task="fixtureTask", agent="baseline", runtime="docker", output=str(tmp_path)))
    assert rec["exit_status"] == "submitted", rec
    assert rec["isolation"] == "docker"
    assert rec["best_score"] == 98.0  # the fixture's baseline (ANSWER = 40, target 42), graded in a fresh container
    traj = json.loads((Path(rec["run_dir"]) / "fixtureTask.traj").read_text())
    assert "Evaluation Score" in traj["trajectory"][0]["observation"]
    assert not _ours()


@needs_games
def test_episode_shell_cwd_timeout_and_isolation(runtime, monkeypatch) -> None:
    from mlgym_core.env import MLGymEnv

    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("TZ", "Europe/Paris")
    env = MLGymEnv("3SATTime", runtime=runtime, short_timeout=2)
    try:
        env.reset(seed=1)
        step = lambda a: env.step(a)[0]  # noqa: E731
        # core's sandbox environment: no key of the host's, its time zone passed through, the runtime's ROOT
        assert step("echo ${OPENAI_API_KEY:-none} $TZ $ROOT $HOME").split() == [
            "none", "Europe/Paris", "/home/agent/", "/home/agent"]
        uid = runtime.uid
        assert step("whoami; id -u; pwd").split() == ["agent", str(uid), "/home/agent/workspace"]
        if os.geteuid() == 0:  # never host root, nor a host account's uid
            assert uid >= 60000 and (env.workspace_host / ".").stat().st_uid == uid
        step("cd /tmp && export FOO=bar")
        assert step("pwd; echo $FOO").split() == ["/tmp", "bar"]  # one persistent shell
        t0 = time.monotonic()
        obs = step("sleep 20; echo not-reached")
        assert "EXECUTION TIMED OUT" in obs and "not-reached" not in obs and time.monotonic() - t0 < 10
        assert step("echo alive; pwd").split() == ["alive", "/tmp"]  # still usable, cwd kept
        # isolation: no network, read-only root, writable workspace and /tmp, protected evaluator
        net = step("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\" 2>&1 | tail -1")
        assert "unreachable" in net.lower() or "error" in net.lower()
        assert "Read-only file system" in step("touch /usr/x 2>&1")
        assert step("cd /home/agent/workspace && touch ok /tmp/ok && echo fine 2>&1").strip() == "fine"
        assert "Read-only" in step("echo x >> evaluate.py 2>&1") or "denied" in step("echo x >> evaluate.py 2>&1")
        assert "operation not permitted" in step("ping -c1 127.0.0.1 2>&1; chown root ok 2>&1").lower()
        # hidden files of the task are nowhere in the agent's container
        assert step("ls /home/agent/workspace").split().count("hidden_seed.txt") == 0
        assert step("find / -name hidden_seed.txt 2>/dev/null | head -1").strip() == ""
        assert step("ls /home/agent/workspace/data | head -1").strip() != ""  # data bound read-only
        assert "Read-only" in step("touch /home/agent/workspace/data/x 2>&1")
        # the container's settings
        c = env.sandbox.container
        c.reload()
        hc = c.attrs["HostConfig"]
        assert hc["NetworkMode"] == "none" and hc["ReadonlyRootfs"] is True
        assert hc["CapDrop"] == ["ALL"] and "no-new-privileges" in hc["SecurityOpt"]
        assert hc["PidsLimit"] == env.spec_task.resources.pids
        assert c.labels["mlgym.task"] == "3SATTime" and c.labels["mlgym.owner_pid"] == str(os.getpid())
    finally:
        env.close()
    assert not _ours()


def test_sandbox_limits_and_gpu_requests(runtime, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    ws.mkdir()
    sb = runtime.start(SandboxConfig(workspace=ws, memory_gb=0.25, cpus=0.5, pids=64, init="cd /home/agent/workspace"))
    try:
        hc = sb.container.attrs["HostConfig"]
        assert hc["Memory"] == 256 * 1024 * 1024 and hc["NanoCpus"] == 500_000_000 and hc["PidsLimit"] == 64
        assert hc["MemorySwap"] == hc["Memory"] and "size=268435456" in hc["Tmpfs"]["/tmp"]
        assert "rc=0" not in sb.run("fallocate -l 5G big; echo rc=$?", 20).output  # the fsize ulimit
        # paused while artifacts are collected: a background writer makes no progress
        sb.run("( while :; do echo x >> ticks; sleep 0.01; done ) >/dev/null 2>&1 & disown", 5)
        deadline = time.monotonic() + 10
        while not (ws / "ticks").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with sb.frozen():
            size = (ws / "ticks").stat().st_size
            time.sleep(0.3)
            assert (ws / "ticks").stat().st_size == size
        sb.run("kill %1 2>/dev/null", 5)
        # a link the agent made is never followed out of the workspace by the host
        from mlgym_core import SandboxError

        sb.run(f"ln -s {tmp_path}/outside leak", 5)
        (tmp_path / "outside").write_text("host secret")
        with pytest.raises(SandboxError, match="leads outside the workspace"):
            sb.get("leak", tmp_path / "got")
        # a fork bomb stops at the pids limit and the shell survives
        obs = sb.run("for i in $(seq 200); do sleep 5 & done 2>&1 | tail -1; echo done", 20).output
        assert "fork" in obs and obs.rstrip().endswith("done")
        sb.run("kill $(jobs -p) 2>/dev/null; wait", 10)
        assert sb.run("echo ok", 5).output.strip() == "ok"
        sb.run("echo hi > made.txt", 5)
        assert (ws / "made.txt").read_text() == "hi\n"  # the workspace is the host folder
    finally:
        sb.close()
    from mlgym_runtimes.docker_runtime import _gpu_requests

    reqs = _gpu_requests(("cpu_0",))
    assert reqs == []
    (req,) = _gpu_requests(("2", "3"))
    assert req["DeviceIDs"] == ["2", "3"] and req["Capabilities"] == [["gpu"]]


def test_grading_container_sees_only_the_grading_folder(runtime, tmp_path: Path) -> None:
    from mlgym_core import GradeConfig

    folder = tmp_path / "grade"
    folder.mkdir()
    (folder / "evaluate.py").write_text("import json, os\nprint(json.dumps({'n': len(os.listdir('.'))}))\n")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "answer.txt").write_text("42")
    res = runtime.grade(GradeConfig(folder=folder, command="python evaluate.py && cat /home/agent/answers/answer.txt",
                                    timeout=60, ro_binds={"/home/agent/answers": hidden}))
    assert res.returncode == 0 and res.output.splitlines() == ['{"n": 1}', "42"]
    who = runtime.grade(GradeConfig(folder=folder, command="id -u", timeout=60))
    assert int(who.output) == runtime.grader_uid and (runtime.grader_uid != runtime.uid or os.geteuid() != 0)
    slow = runtime.grade(GradeConfig(folder=folder, command="sleep 30", timeout=2))
    assert slow.timed_out and slow.seconds < 15
    assert not _ours()


def test_killed_owner_leaves_no_container(tmp_path: Path) -> None:
    """SIGKILL of the process that started a sandbox: its watcher removes the container."""
    import docker

    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(f"""
        import pathlib, sys, time
        from mlgym_core import SandboxConfig
        from mlgym_runtimes.docker_runtime import DockerRuntime
        ws = pathlib.Path({str(tmp_path)!r}) / "ws"; ws.mkdir()
        sb = DockerRuntime().start(SandboxConfig(workspace=ws))
        print(sb.container.id, flush=True)
        time.sleep(600)
    """))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    cid = p.stdout.readline().strip()
    cl = docker.from_env()
    assert cl.containers.get(cid).status == "running"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            cl.containers.get(cid)
        except docker.errors.NotFound:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the container of a killed owner is still there")


def test_gc_removes_containers_of_dead_owners() -> None:
    import docker
    from click.testing import CliRunner

    from mlgym_core.cli import cli

    cl = docker.from_env()
    dead = subprocess.Popen(["true"])
    dead.wait()
    image = os.environ.get("MLGYM_IMAGE", "mlgym-agent:latest")
    stale = cl.containers.create(image, ["sleep", "infinity"], network_mode="none",
                                 labels={"mlgym.owner_pid": str(dead.pid), "mlgym.owner_host": os.uname().nodename,
                                         "mlgym.owner_start": "1"})
    live = cl.containers.create(image, ["sleep", "infinity"], network_mode="none",
                                labels={"mlgym.owner_pid": str(os.getpid()), "mlgym.owner_host": os.uname().nodename})
    try:
        res = CliRunner().invoke(cli, ["gc"])
        assert res.exit_code == 0, res.output
        assert stale.name in res.output and live.name not in res.output
        with pytest.raises(docker.errors.NotFound):
            cl.containers.get(stale.id)
        cl.containers.get(live.id)
    finally:
        for c in (stale, live):
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_image_build_from_a_local_base() -> None:
    """`mlgym image build --base` from the image already there (no registry): a quick rebuild."""
    from click.testing import CliRunner

    from mlgym_core.cli import cli

    base = os.environ.get("MLGYM_IMAGE", "mlgym-agent:latest")
    argv = ["image", "build", "--base", base, "--tag", "mlgym-agent-test:latest", "--no-task-requirements"]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 0, res.output
    import docker

    cl = docker.from_env()
    out = cl.containers.run("mlgym-agent-test:latest", ["bash", "-c", "python --version; flake8 --version; id -un"],
                            remove=True, network_mode="none")
    text = out.decode()
    assert "Python 3.11" in text and "agent" in text
    cl.images.remove("mlgym-agent-test:latest", force=True)
