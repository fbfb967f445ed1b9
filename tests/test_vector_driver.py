"""The vector env's driver (one thread polling every shell) and the shell protocol it drives: a step
through MLGymVectorEnv gives what MLGymEnv.step gives, whatever the step does; the per-step alias and
the length-prefixed command text change nothing a command can see."""

from __future__ import annotations

import os
import subprocess

import pytest

from mlgym_core.env import MLGymEnv
from mlgym_core.shell import PersistentShell, ShellTransport, Started
from mlgym_core.vector import MLGymVectorEnv

from .conftest import needs_games

# each kind of step: a plain command, state that persists, a syntax error, a failure, a command that
# ends the shell (restarted), a timeout (interrupted), the grader (validate), non-ASCII text, a step
# with an edit block missing its end line is not one here (no tools): an exit action ends the episode
ACTIONS = ["echo hi", "cd /tmp && export V=1", "pwd; echo $V", "if then", "false", "exit 3", "echo $V back",
           "sleep 30; echo never", "echo after", "validate", "echo 'héllo ✓' | wc -c", "submit"]


def _strip(out):
    obs, reward, term, trunc, info = out
    info = {k: v for k, v in info.items() if k != "timings"}
    # a killed process's pid and the game's sampled score differ from one run to the next
    return obs.replace("\n", " ").split("Killed")[0].split("Evaluation Score")[0], reward >= 0, term, trunc, info


@needs_games
def test_a_vector_step_gives_what_env_step_gives(tmp_path):
    kw = dict(max_steps=20, short_timeout=1, work_dir=tmp_path / "w", prestart=False)
    env = MLGymEnv("battleOfSexes", **kw)
    vec = MLGymVectorEnv("battleOfSexes", 1, **kw)
    try:
        env.reset(seed=3)
        vec.reset(seed=3)
        for action in ACTIONS:
            want = _strip(env.step(action))
            obs, rew, term, trunc, infos = vec.step([action])
            got = _strip((obs[0], rew[0], term[0], trunc[0],
                          {k: infos[k][0] for k in infos if not k.startswith("_") and k != "timings"}))
            assert got[:4] == want[:4], action
            assert {k: got[4][k] for k in ("step", "cwd", "returncode", "exit_status", "submission")} == {
                k: want[4][k] for k in ("step", "cwd", "returncode", "exit_status", "submission")}, action
        assert [h["action"] for h in vec.envs[0].history] == [h["action"] for h in env.history] == ACTIONS
        assert len({len(env.scores), len(vec.envs[0].scores)}) == 1 and env.scores
        assert vec.envs[0].exit_status == env.exit_status == "submitted"
    finally:
        env.close()
        vec.close()


@needs_games
def test_a_timeout_in_one_episode_stops_only_its_command(tmp_path):
    vec = MLGymVectorEnv("battleOfSexes", 3, max_steps=10, short_timeout=1, work_dir=tmp_path / "w")
    try:
        vec.reset()
        obs, _, _, _, infos = vec.step(["sleep 30; echo never", "echo a", "echo b"])
        assert "TIMED OUT" in obs[0] and "never" not in obs[0] and obs[1:] == ("a", "b")
        assert list(infos["returncode"]) == [137, 0, 0]
        obs, *_ = vec.step(["echo same shell $$", "echo x", "echo y"])
        assert obs[0].startswith("same shell")
        vec.send(["sleep 30; echo never", "exit 4"], env_ids=[2, 1])  # the driver thread's way
        obs, _, _, _, infos, ids = vec.recv(min_ready=2)
        got = dict(zip(ids, obs))
        assert "TIMED OUT" in got[2] and "never" not in got[2] and "a new shell was started" in got[1]
        assert vec.step(["echo a", "echo b", "echo c"])[0] == ("a", "b", "c")
    finally:
        vec.close()


def _shell(tmp_path, **kw):
    return PersistentShell(["bash", "--noprofile", "--norc"], cwd=str(tmp_path), **kw)


def test_the_step_alias_is_invisible_and_aliases_keep_their_setting(tmp_path):
    s = _shell(tmp_path)
    try:
        assert s.run("alias; echo ${#BASH_ALIASES[@]}; shopt expand_aliases", 5).output == "0\nexpand_aliases \toff\n"
        assert s.run("alias ll='echo LL'; ll", 5).returncode == 127  # off, as in any non-interactive bash
        assert s.run("unalias -a; echo ok", 5).output == "ok\n"  # the protocol survives it
        assert s.run("shopt -s expand_aliases", 5).returncode == 0
        assert s.run("alias ll='echo LL'", 5).returncode == 0
        assert s.run("ll; alias", 5).output == "LL\nalias ll='echo LL'\n"
        r = s.run("break; echo after; continue; echo again", 5)  # top level: bash's error, and on
        assert r.output.count("only meaningful in a") == 2 and "after\n" in r.output and "again" in r.output
        assert s.run("declare d=1; set -- a b", 5).returncode == 0
        assert s.run("echo $d $# $1", 5).output == "1 2 a\n"  # at top level, not in a function
    finally:
        s.close()


@pytest.mark.parametrize("separate_pipe", [False, True])
def test_command_text_of_any_bytes_and_length(tmp_path, separate_pipe):
    """ASCII text goes length-prefixed, other text NUL-ended; both on stdin (the default) or on a
    transport's pipe of its own (fd 3)."""

    class OwnPipe(ShellTransport):
        def start(self, shell):
            r, w = os.pipe()
            proc = subprocess.Popen(shell.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=shell.cwd,
                                    stderr=subprocess.STDOUT, start_new_session=True, bufsize=0, pass_fds=(r,))
            os.close(r)
            return Started(proc, w, fd_setup=f"3<&{r} {r}<&-")

    s = _shell(tmp_path, transport=OwnPipe() if separate_pipe else None)
    try:
        big = "x" * 200_000
        assert s.run(f"v='{big}'; echo ${{#v}}", 10).output == "200000\n"  # more than a pipe holds
        assert s.run("printf %s 'héllo ✓' | od -An -tx1 | tr -d ' \\n'", 5).output == (
            "68c3a96c6c6f20e29c93")
        assert s.run("printf %s '\udc80\udcff' | od -An -tx1", 5).output.split() == ["80", "ff"]
        assert s.run("", 5).output == "" and s.run("echo $LAST_ACTION", 5).output == "\n"  # the previous one
        assert s.run("echo $LAST_ACTION", 5).output == "echo $LAST_ACTION\n"
        assert s.run("cat <&3 2>&1; read x; echo [$x]", 5).output.endswith("[]\n")  # no control pipe in reach
        assert s.run("if then", 5).syntax_error
        assert s.run("echo still", 5).output == "still\n"
    finally:
        s.close()


def test_send_then_ready_or_result(tmp_path):
    s = _shell(tmp_path)
    try:
        assert s.send("echo one") is None
        assert s.result(5).output == "one\n"
        assert s.send("until [ -e go ]; do sleep 0.02; done; echo two") is None
        assert s.ready() is None  # not yet: it waits for the file
        (tmp_path / "go").touch()
        import select

        p = select.poll()
        p.register(s.fileno(), select.POLLIN)
        res = None
        while res is None:
            p.poll(5000)
            res = s.ready()
        assert (res.output, res.returncode) == ("two\n", 0)
    finally:
        s.close()
