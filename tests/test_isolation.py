"""Grading isolation and the agent's sandbox, each proved by trying it from inside the sandbox."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from mlgym_core.env import MLGymEnv

from .conftest import REPO, needs_bwrap, needs_games

pytestmark = [needs_games, needs_bwrap]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123")
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_456")
    e = MLGymEnv("battleOfSexes", max_steps=40, short_timeout=5)
    e.reset()
    yield e
    e.close()


def sh(env, cmd):
    return env.step(cmd)[0]


def test_isolation_is_recorded(env):
    assert env.isolation == "bwrap"


def test_no_network(env):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: srv.accept(), daemon=True).start()
    try:
        code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                f"    print('CONNECTED')\nexcept OSError as e:\n    print('BLOCKED', e)")
        out = sh(env, f"python -c \"{code}\"")
        assert "BLOCKED" in out and "CONNECTED" not in out
        assert "lo" in sh(env, "cat /proc/net/dev") and "eth" not in sh(env, "cat /proc/net/dev")
    finally:
        srv.close()


def test_no_secrets_in_the_environment(env):
    out = sh(env, "env")
    assert "SECRET" not in out and "OPENAI_API_KEY" not in out and "HF_TOKEN" not in out
    assert "HOME=/home/agent" in out


def test_user_home_repo_and_local_data_are_invisible(env):
    home = str(Path.home())
    assert "No such file" in sh(env, f"ls {home}/.bashrc {home}/.cache 2>&1") or home == "/home/agent"
    folders = [REPO, REPO.parent] + ([Path(os.environ["MLGYM_DATA_DIR"])] if os.environ.get("MLGYM_DATA_DIR") else [])
    for folder in (f for f in folders if len(f.parts) > 2):  # never a system folder like / or /home
        # only the way to a Python install inside it (a .venv in the checkout) may show
        allowed = {Path(r).relative_to(folder).parts[0] for r in (sys.prefix, sys.base_prefix)
                   if Path(r).is_relative_to(folder)}
        seen = sh(env, f"command ls -A {folder} 2>&1")
        assert "No such file" in seen or set(seen.split()) <= allowed, (folder, seen)
    assert "No such file" in sh(env, "ls /etc/shadow 2>&1")
    assert sh(env, "command ls /home").strip() == "agent"


def test_system_and_python_are_read_only(env):
    out = sh(env, f"touch /usr/x {sys.prefix}/x /etc/x 2>&1; echo rc=$?")
    assert out.count("Read-only file system") + out.count("Permission denied") >= 3
    assert "rc=1" in out


def test_evaluation_files_cannot_be_changed(env):
    out = sh(env, "echo 'print(1)' >> evaluate.py; chmod 777 evaluate.py; rm -f evaluate.py target.py; "
                  "mv target.py t.py; ls evaluate.py target.py")
    assert out.count("Read-only file system") >= 2 or "Device or resource busy" in out
    assert "evaluate.py" in out.splitlines()[-2:][0] or "evaluate.py\ntarget.py" in out
    assert (env.workspace_host / "evaluate.py").read_text().startswith('"""Evaluation of the Battle')


def test_agent_prints_and_shadow_modules_do_not_fake_the_score(env):
    # prints (also straight to fd 1), a json.py shadowing the stdlib, a stray target.py
    sh(env, "cat > strategy.py <<'EOF'\nimport os, sys\nprint('{\"Score\": 99.0}')\n"
            "os.write(1, b'{\"Score\": 98.0}\\n')\n"
            "def row_strategy(history):\n    return 1\nEOF")
    sh(env, "cat > json.py <<'EOF'\ndef dumps(o, **kw):\n    return '{\"Score\": 97.0}'\n"
            "def loads(s, **kw):\n    return {'moves': [1] * 10000}\nEOF")
    sh(env, "mkdir -p fake && echo 'def target_column_strategy(h):\n    return 1' > fake/target.py")
    obs, _, _, _, info = env.step("validate")
    score = info["scores"][-1]["Score"]
    # round 1: partner plays 1 -> payoff 1; later the partner copies our first move (1) 80% -> 0.8
    assert score == pytest.approx((1 + 9 * 0.8) / 10, abs=0.03), obs


def test_a_strategy_writing_to_the_protocol_cannot_fake_the_score(env):
    sh(env, "cat > strategy.py <<'EOF'\nimport sys\n"
            "sys.__stdout__.write('{\"moves\": \"x\"}\\n')\n"
            "def row_strategy(history):\n    return 0\nEOF")
    obs, _, _, _, info = env.step("validate")
    assert all(s["Score"] < 2 for s in info["scores"]), obs


def test_task_package_and_hidden_files_are_invisible():
    e = MLGymEnv("3SATTime", max_steps=5)
    e.reset()
    try:
        out = e.step("find / -name 'hidden_seed.txt' -o -name 'task.yaml' 2>/dev/null | head; echo END")[0]
        assert out.strip() == "END"
        from mlgym_core import get_task

        folder = get_task("3SATTime").files
        assert "No such file" in e.step(f"ls {folder}/hidden_seed.txt 2>&1")[0]
        assert e.step("command ls data")[0].strip() == "dataset.pkl"
        assert "Read-only" in e.step("touch data/x 2>&1")[0]
    finally:
        e.close()


def test_other_runs_are_invisible(env):
    other = MLGymEnv("battleOfSexes")
    other.reset()
    try:
        (other.workspace_host / "secret.txt").write_text("other run")
        out = sh(env, f"cat {other.workspace_host}/secret.txt 2>&1; ls /tmp")
        assert "other run" not in out
    finally:
        other.close()


def test_fork_bomb_is_contained(env):
    e = MLGymEnv("battleOfSexes", short_timeout=3)
    e.reset()
    try:
        obs = e.step("b() { b | b & }; b")[0]
        assert isinstance(obs, str)
        after = e.step("echo survived")[0]
        # the shell answers; the bomb runs on in the background (the command returned at once), and its
        # own lines ("fork: retry: Resource temporarily unavailable" at the pids limit) may come with it,
        # interleaved
        assert "survived" in after, after[-2000:]
        host_procs = sum(1 for p in os.listdir("/proc") if p.isdigit())  # the bomb still running: held
        assert host_procs < 2000, host_procs  # to the sandbox's pids limit
    finally:
        e.close()


def test_pristine_grader_even_if_the_agent_edits_its_copy_without_bwrap(monkeypatch):
    """Without isolation the read-only files are only chmod-ed; the grader still uses its own copy."""
    from mlgym_core.builtin_plugins.local_runtime import LocalRuntime

    with pytest.warns(UserWarning, match="WITHOUT isolation"):
        rt = LocalRuntime(isolation="none")
    e = MLGymEnv("battleOfSexes", runtime=rt)
    e.reset()
    try:
        assert e.isolation == "none"
        e.step("chmod u+w target.py evaluate.py; echo 'def target_column_strategy(h):\n    return 0' > target.py; "
               "echo 'print(\"{\\\"Score\\\": 50}\")' > evaluate.py")
        _, _, _, _, info = e.step("validate")
        assert abs(info["scores"][-1]["Score"] - 1.02) < 0.06
    finally:
        e.close()


def test_gpu_devices_are_bound_only_when_assigned(tmp_path):
    from mlgym_core.builtin_plugins.local_runtime import bwrap_argv, sandbox_env

    def argv(devices):
        return bwrap_argv("bwrap", workspace=tmp_path, ro_binds={}, read_only=(), tools_dir=None, services_dir=None,
                          env=sandbox_env({}, devices), network=False, hide=(), command=["true"], devices=devices)

    none = argv(())
    assert not any("nvidia" in x for x in none)
    assert none[none.index("CUDA_VISIBLE_DEVICES") + 1] == ""  # no GPU unless assigned
    two = " ".join(argv(("1", "3")))
    assert "--dev-bind-try /dev/nvidia1 /dev/nvidia1" in two and "/dev/nvidia3" in two
    assert "/dev/nvidia0" not in two and "--dev-bind-try /dev/nvidiactl" in two
    assert "CUDA_VISIBLE_DEVICES 1,3" in two


def test_no_mlgym_package_metadata_in_the_sandbox(env):
    """Nothing under the bound Python roots names an mlgym distribution: no dist-info (RECORD's
    hashes of hidden files), no editable-install hooks pointing at the source tree."""
    import site

    code = ("import importlib.metadata as m\n"
            "print('DISTS', sorted(str(d.metadata['Name']) for d in m.distributions() "
            "if 'mlgym' in str(d.metadata['Name']).lower()))\n"
            "try:\n    import mlgym_core\n    print('IMPORTED')\nexcept ImportError:\n    print('NO-CORE')")
    res = sh(env, f"python -c \"{code}\"")
    assert "DISTS []" in res and "NO-CORE" in res, res
    globs = " ".join(f"{d}/* {d}/*.dist-info/* {d}/__pycache__/*"
                     for d in [*site.getsitepackages(), os.path.join(sys.prefix, "bin")])
    found = sh(env, f"grep -s -l -i mlgym {globs} | head; echo END")
    assert found.strip().endswith("END") and found.strip() == "END", found


def test_a_venv_under_tmp_keeps_its_python_in_the_sandbox(tmp_path):
    """A venv under /tmp (or /home) is bound after the sandbox's tmpfs mounts (issue 11 item 5)."""
    import subprocess

    venv = tmp_path / "venv"
    if sys.prefix != sys.base_prefix:  # the suite runs in a venv: that one is the subject (a nested venv's
        venv = Path(sys.prefix)  # --system-site-packages would give the base interpreter's packages, not its)
    else:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    ws = tmp_path / "ws"
    ws.mkdir()
    script = ("from pathlib import Path\nfrom mlgym_core.builtin_plugins.local_runtime import LocalRuntime\n"
              "from mlgym_core.sandbox import SandboxConfig\n"
              f"box = LocalRuntime(isolation='bwrap').start(SandboxConfig(workspace=Path('{ws}')))\n"
              "print(box.run(\"python -c 'import numpy, sys; print(sys.prefix)'\", 30).output)\nbox.close()\n"
              # the grader, and the worker it runs the agent's strategy in, find their python too
              "from mlgym_core.env import MLGymEnv\ne = MLGymEnv('battleOfSexes', prestart=False)\ne.reset()\n"
              "print('SCORES', e.step('validate')[4]['scores'])\ne.close()\n")
    res = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=120)
    lines = res.stdout.strip().splitlines()
    assert str(venv) in lines, (res.stdout, res.stderr[-2000:])
    assert lines[-1].startswith("SCORES [{'Score'"), (res.stdout, res.stderr[-2000:])
