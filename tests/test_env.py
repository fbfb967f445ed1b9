"""The gymnasium environment with the local runtime on the game tasks: MLGym's step semantics."""

from __future__ import annotations

import os

import gymnasium as gym
import pytest

import mlgym_core
from mlgym_core.env import MLGymEnv

from .conftest import needs_bwrap, needs_games

pytestmark = needs_games

ALWAYS_ZERO = "cat > strategy.py <<'EOF'\ndef row_strategy(history):\n    return 0\nEOF"


@pytest.fixture
def env():
    e = MLGymEnv("battleOfSexes", max_steps=6)
    e.reset(seed=1)
    yield e
    e.close()


def test_gymnasium_make_registered_env():
    mlgym_core.register_envs()
    e = gym.make("mlgym/battleOfSexes", runtime="local", max_steps=50)
    try:
        obs, info = e.reset(seed=3)
        assert isinstance(obs, str) and "Battle of the Sexes" in obs
        assert info["task_id"] == "battleOfSexes" and info["step"] == 0
        obs, reward, term, trunc, info = e.step("echo hello")
        assert (obs, reward, term, trunc) == ("hello", 0.0, False, False)
        assert info["step"] == 1 and info["scores"] == [] and "step_s" in info["timings"]
    finally:
        e.close()


def test_workspace_path_and_cwd_persist(env):
    obs, *_ = env.step("pwd; ls")
    assert obs.splitlines()[0] == "/home/agent/workspace"
    assert {"strategy.py", "target.py*", "evaluate.py*", "gamerunner.py*"} <= set(obs.split())  # ls -F, as MLGym
    env.step("mkdir -p sub && cd sub && export FOO=bar")
    obs, _, _, _, info = env.step("pwd; echo $FOO")
    assert obs == "/home/agent/workspace/sub\nbar" and info["cwd"] == "/home/agent/workspace/sub"


def test_validate_then_submit_with_reward(env):
    obs, r0, term, _, info = env.step("validate")
    assert not term and "Evaluation Score: {'Score'" in obs and "Baseline Score" in obs
    first = info["scores"][0]["Score"]
    assert abs(first - 1.0227) < 0.05
    env.step(ALWAYS_ZERO)
    obs, reward, term, trunc, info = env.step("validate")
    best = info["scores"][1]["Score"]
    assert best > 1.3  # always 0 against a partner who follows our first move 80%: ~1.44
    assert reward == pytest.approx(best - max(first, 1.0226699113845825), abs=1e-9)
    obs, reward, term, trunc, info = env.step("submit")
    assert (obs, term, trunc) == ("Exited (submit)", True, False)
    assert info["exit_status"] == "submitted" and len(info["scores"]) == 3
    assert info["submission"] == "/home/agent/workspace/strategy.py"
    with pytest.raises(mlgym_core.MlgymError):
        env.step("echo after the end")


def test_max_steps_autosubmits_without_running_the_action(env):
    for _ in range(6):
        env.step("true")
    obs, _, term, trunc, info = env.step("touch should_not_exist")
    assert obs == "Exited (max_steps)" and trunc and not term
    assert info["exit_status"] == "autosubmission (max_steps)" and len(info["scores"]) == 1
    assert not (env.workspace_host / "should_not_exist").exists()


@pytest.mark.parametrize("action, status", [("skip", "skipped"), ("exit_forfeit", "exit_forfeit")])
def test_voluntary_ends_do_not_evaluate(env, action, status):
    _, _, term, _, info = env.step(action)
    assert term and info["exit_status"] == status and info["scores"] == []


@pytest.mark.parametrize("reason", ["exit_cost", "exit_context", "exit_format", "exit_api", "exit_error"])
def test_exit_actions_autosubmit(env, reason):
    obs, _, term, _, info = env.step(reason)
    assert obs == f"Exited ({reason})" and term and info["exit_status"] == f"autosubmission ({reason})"


def test_submission_not_found(env):
    obs, _, term, _, _ = env.step("rm strategy.py; validate")
    assert not term and "No valid submission artefact found" in obs
    obs, _, term, _, info = env.step("submit")
    assert term and info["exit_status"] == "submission_not_found (submit)" and info["scores"] == []


def test_crashing_strategy_is_an_evaluation_format_error(env):
    env.step("echo 'def row_strategy(history):\n    raise ValueError(42)' > strategy.py")
    obs, *_ = env.step("validate")
    assert "Failed to decode metrics" in obs
    _, _, _, _, info = env.step("submit")
    assert info["exit_status"] == "evaluation_format_error (submit)"


def test_invalid_move_fails_evaluation(env):
    env.step("echo 'def row_strategy(history):\n    return 7' > strategy.py")
    _, _, _, _, info = env.step("submit")
    assert info["exit_status"] == "evaluation_format_error (submit)"


def test_timeout_selection_and_session_survives():
    e = MLGymEnv("battleOfSexes", short_timeout=1, training_timeout=3)
    e.reset()
    try:
        obs, *_ = e.step("sleep 2; echo short")
        assert "EXECUTION TIMED OUT" in obs and "short" not in obs
        obs, *_ = e.step("python -c 'import time; time.sleep(2); print(\"long ok\")'")
        assert "long ok" in obs  # commands running python get the training timeout
        assert e.step("echo alive")[0] == "alive"
    finally:
        e.close()


def test_malformed_edit_without_end_marker_runs_nothing(env):
    from mlgym_core import ToolSpec

    from mlgym_core.actions import with_heredocs

    env._tools.end_names = {"edit": "end_of_edit"}
    obs, *_ = env.step("edit 1:2\nprint('x')")
    assert obs.startswith("Malformed edit command")
    cmd, problem = with_heredocs("edit 1:2\nx = 1\nend_of_edit", env._tools.end_names)
    assert problem == "" and cmd.splitlines()[0] == "edit 1:2 << 'end_of_edit'"
    assert ToolSpec  # the rewrite is driven by ToolSpec.end_name


def test_bad_agent_input_keeps_the_episode_going():
    env = MLGymEnv("battleOfSexes", max_steps=20)
    env.reset()
    for action in ("head -c 3000000 /dev/urandom", "cat /bin/ls", "printf '\\xff\\xfe'", "yes | head -c 500000",
                   "rm -rf /home/agent/workspace/* /home/agent/workspace/.[!.]*", "exit 1"):
        obs, _, term, _, _ = env.step(action)
        assert not term and isinstance(obs, str)
        assert len(obs) < 110_000
    assert env.step("echo alive")[0] == "alive"
    env.close()


def test_reset_gives_a_fresh_workspace(env):
    env.step("echo junk > junk.txt")
    old = env.workspace_host
    env.reset()
    from mlgym_core.background import drain_cleaner

    drain_cleaner()  # the old sandbox is torn down in the background
    assert env.workspace_host != old and not old.exists()
    assert "junk.txt" not in env.step("ls")[0]


def test_prestarted_sandbox_is_fresh_and_seeded():
    e = MLGymEnv("battleOfSexes")
    try:
        assert e.prestart
        e.reset(seed=5)
        e.step("echo dirty > strategy.py; export LEAK=1")
        e.reset(seed=7)  # takes the sandbox started in the background
        obs = e.step("head -1 strategy.py; echo ${LEAK:-none} $MLGYM_SEED")[0]
        assert obs.splitlines()[1] == "none 7" and "dirty" not in obs
    finally:
        e.close()


@pytest.mark.parametrize("action", [123, None, b"echo hi", ["echo"]])
def test_non_str_action_is_a_type_error(env, action):
    with pytest.raises(TypeError, match=r"^step\(\) takes a shell command as a str, got \w+") as err:
        env.step(action)
    assert "\n" not in str(err.value)
    assert env.step("echo still")[0].strip() == "still"


def test_lone_surrogates_in_an_action(env):
    # U+DC80..U+DCFF are raw bytes (surrogateescape); any other lone surrogate is sent as U+FFFD
    assert env.step("printf '%s' \udcff | od -An -tx1")[0].split() == ["ff"]
    assert env.step("echo \ud800 x")[0].strip() == "\ufffd x"


@pytest.mark.parametrize("bad", [-1, 0, 1.5, "10", True])
def test_max_steps_must_be_a_positive_integer(bad):
    with pytest.raises(mlgym_core.MlgymError, match=f"max_steps must be a positive integer, got {bad!r}"):
        MLGymEnv("battleOfSexes", max_steps=bad)


def _new_processes(before: set[int]) -> set[int]:
    """Processes below this one, not in ``before``, still running (zombies are dead: under pytest, a
    child subreaper, an orphaned bwrap helper waits there to be reaped)."""
    from mlgym_core.processes import descendants

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    return {p for p in set(descendants(os.getpid())) - before if running(p)}


def test_reset_failing_before_the_sandbox_starts_leaves_nothing(tmp_path):
    from mlgym_core.processes import descendants
    from mlgym_core.testing import make_task_spec

    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "evaluate.py").write_text("print('{\"Score\": 1}')\n")
    spec = make_task_spec(folder, starter_files=("missing.py",))
    e = MLGymEnv(spec, work_dir=tmp_path / "work", prestart=False)
    before = set(descendants(os.getpid()))
    try:
        with pytest.raises(OSError):
            e.reset()
        assert not _new_processes(before)
        assert not list((tmp_path / "work").iterdir())  # no half-made episode folder
        with pytest.raises(mlgym_core.MlgymError, match="call reset"):
            e.step("echo hi")
    finally:
        e.close()


class _SandboxThatFails:
    """A started local sandbox whose first command fails, as a shell that died and could not restart."""

    def __init__(self, real):
        self.real = real

    def run(self, command, timeout):
        from mlgym_core.shell import ShellDied

        raise ShellDied("the sandbox shell is gone (test)")

    def close(self):
        self.real.close()


class _RuntimeThatFailsAfterStart:
    name = "fails-after-start"

    def __init__(self):
        from mlgym_core.registry import get_runtime

        self.real = get_runtime("local").factory()
        self.started = []

    def start(self, config):
        sandbox = self.real.start(config)
        self.started.append(sandbox)
        return _SandboxThatFails(sandbox)


def test_reset_failing_after_the_sandbox_started_stops_it(tmp_path):
    from mlgym_core.processes import descendants
    from mlgym_core.shell import ShellDied

    runtime = _RuntimeThatFailsAfterStart()
    e = MLGymEnv("battleOfSexes", runtime=runtime, work_dir=tmp_path / "work")
    before = set(descendants(os.getpid()))
    try:
        with pytest.raises(ShellDied):
            e.reset(seed=3)  # the seed is exported with a first command, which fails
        assert len(runtime.started) == 1 and runtime.started[0].shell.proc.poll() is not None
        assert not _new_processes(before)  # no bwrap, no bash left running until close()
        assert not list((tmp_path / "work").iterdir())
    finally:
        e.close()


@needs_games
@needs_bwrap
def test_a_sandbox_started_in_a_short_lived_thread_outlives_it():
    """bwrap's --die-with-parent follows the forking *thread*: a reset in a thread that then
    ends must still leave a live sandbox with its shell state."""
    import threading

    env = MLGymEnv("battleOfSexes", prestart=False)
    try:
        t = threading.Thread(target=lambda: (env.reset(seed=0), env.step("export KEEP_ME=yes")))
        t.start()
        t.join()
        obs, *_ = env.step("echo ${KEEP_ME:-lost}")
        assert obs.strip() == "yes", obs
    finally:
        env.close()


def test_a_tools_variables_reach_the_sandbox_only_when_it_is_chosen(core_only, tmp_path):
    """Core sets no tool's variables (the ACI's WINDOW is mlgym-tools' business): a ToolSpec
    declares them and they are set when, and only when, its tool is chosen."""
    from mlgym_core import ToolSpec, hookimpl
    from mlgym_core.testing import fixture_task, registered

    script = tmp_path / "peek.sh"
    script.write_text("peek() { echo \"window=${WINDOW-unset} span=${SPAN-unset}\"; }\n")

    class Tools:
        @hookimpl
        def register_tools(self):
            return [ToolSpec(name="peek", signature="peek", docstring="shows the span", source=script,
                             group="viewer", env={"SPAN": "40"})]

    with registered(Tools(), name="viewer_tools"), fixture_task() as spec:
        for tools, expected in (((), "unset"), (("viewer",), "40")):
            env = MLGymEnv(spec, max_steps=5, tools=tools, prestart=False, work_dir=tmp_path / "work")
            try:
                env.reset()
                obs = env.step("echo window=${WINDOW-unset} span=${SPAN-unset}")[0]
                assert obs == f"window=unset span={expected}"
            finally:
                env.close()
