"""The smaller holes of the security issue, each tried for real: bad CLI input is one line, a broken
trajectory is no run, secrets stay off the disk, odd text in actions is recorded safely.

(The shell's holes, a huge action and endless output past a timeout, are in tests/test_shell.py; the
environment's, non-str actions and a failing reset, in tests/test_env.py; the bench ledger's in
tests/test_bench.py.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core import ModelBackendSpec, hookimpl
from mlgym_core.testing import registered

needs_games = pytest.mark.skipif(importlib.util.find_spec("mlgym_tasks_games") is None,
                                 reason="mlgym-tasks-games is not installed")


def _mlgym(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlgym_core", *args], capture_output=True, text=True, timeout=120)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.stdout + r.stderr)[-2000:]
    assert r.stderr.startswith("mlgym: error: ") and r.stderr.count("\n") == 1, r.stderr[-2000:]
    return r.stderr


@needs_games
@pytest.mark.parametrize("command, value", [("run", "-1"), ("run", "0"), ("run", "1.5"), ("replay", "0"),
                                            ("bench", "-1")])
def test_max_steps_must_be_a_positive_integer(tmp_path, command, value):
    args = {"run": ["run", "--agent", "baseline", "--task", "battleOfSexes"],
            "replay": ["replay", str(Path(__file__).parents[1] / "fixtures" / "bos_always_zero.traj"),
                       "--task", "battleOfSexes"],
            "bench": ["bench", "--tasks", "battleOfSexes", "--agents", "baseline"]}[command]
    r = _mlgym(*args, "--output", str(tmp_path / "out"), "--max-steps", value)
    assert f"--max-steps must be a positive integer, got '{value}'" in _one_error_line(r)
    assert not (tmp_path / "out").exists()


@needs_games
@pytest.mark.parametrize("flag, pair", [("-o", "tools=[unclosed"), ("--model-option", "api_key=[sk-live-123")])
def test_an_option_that_is_not_yaml_is_one_line_naming_it(tmp_path, flag, pair):
    r = _mlgym("run", "--agent", "baseline", "--task", "battleOfSexes", "--output", str(tmp_path), flag, pair)
    line = _one_error_line(r)
    key = pair.split("=")[0]
    assert f" {key}: the value is not valid YAML" in line and "sk-live" not in line


def _traj(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@needs_games
@pytest.mark.parametrize("name, text, why", [
    ("truncated.traj", '{"environment": "mlgym_main", "trajectory": [{"action": "ls", "obs',
     "not valid JSON (Unterminated string starting at: line 1 column"),
    ("nolist.traj", '{"environment": "mlgym_main", "history": []}', "no 'trajectory' list"),
    ("noaction.traj", '{"trajectory": [{"action": "ls"}, {"thought": "x"}]}', "step 1 has no 'action' string"),
    ("empty.traj", '{"trajectory": []}', "has no steps to replay"),
    ("list.traj", "[1, 2]", "no 'trajectory' list"),
])
def test_replay_of_a_broken_trajectory_is_an_error_not_a_run(tmp_path, name, text, why):
    traj = _traj(tmp_path, name, text)
    r = _mlgym("replay", str(traj), "--task", "battleOfSexes", "--output", str(tmp_path / "runs"))
    line = _one_error_line(r)
    assert str(traj) in line and why in line
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


class _KeyedBackend:
    """A model backend that keeps the options it was given (the key must reach it)."""

    seen: dict = {}

    def __init__(self, model, *, task_id=None, **options):
        _KeyedBackend.seen = dict(options)

    def complete(self, messages, **_kw):
        raise AssertionError("not called by the replay agent")


class _KeyedPlugin:
    @hookimpl
    def register_model_backends(self):
        return [ModelBackendSpec(name="keyed", description="test: keeps its options", factory=_KeyedBackend)]


@needs_games
def test_secrets_reach_the_backend_and_no_file(tmp_path):
    from mlgym_core.run import RunSpec, run_episode

    traj = _traj(tmp_path, "t.traj", json.dumps({"trajectory": [{"action": "echo hi"}]}))
    secrets = ["sk-live-123", "hf-456", "tok-789", "pw-000"]
    spec = RunSpec(task="battleOfSexes", agent="replay", model="keyed:m", output=str(tmp_path / "runs"),
                   model_options={"api_key": secrets[0], "max_tokens": 512,
                                  "extra_headers": {"Authorization": secrets[2]}},
                   agent_options={"trajectory": str(traj), "HF_TOKEN": secrets[1], "db": {"password": secrets[3]}})
    with registered(_KeyedPlugin(), name="keyed_test"):
        rec = run_episode(spec)
    assert _KeyedBackend.seen["api_key"] == secrets[0]  # in memory, for the backend
    run_dir = Path(rec["run_dir"])
    for f in run_dir.rglob("*"):
        if f.is_file():
            text = f.read_text(errors="replace")
            assert not [s for s in secrets if s in text], f
    saved = json.loads((run_dir / "run.json").read_text())["spec"]
    assert saved["model_options"] == {"api_key": "<redacted>", "max_tokens": 512,
                                      "extra_headers": {"Authorization": "<redacted>"}}
    assert saved["agent_options"]["HF_TOKEN"] == "<redacted>" and saved["agent_options"]["db"]["password"] == \
        "<redacted>"


@needs_games
def test_lone_surrogates_in_actions_are_run_and_recorded(tmp_path):
    action = "printf '%s|%s' \udcff \ud800 | od -An -c"
    traj = _traj(tmp_path, "t.traj", json.dumps({"trajectory": [{"action": action}]}))
    r = _mlgym("replay", str(traj), "--task", "battleOfSexes", "--output", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    step = json.loads((run_dir / "battleOfSexes.traj").read_text())["trajectory"][0]
    assert step["action"] == action  # written as JSON escapes, read back unchanged
    assert step["observation"].split() == ["377", "|", "357", "277", "275"]  # the byte 0xff; U+FFFD
