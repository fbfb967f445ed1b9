"""The persistent shell: state persists, syntax is checked without running anything, timeouts
kill what the command started and keep the session usable, output is capped and decoded."""

from __future__ import annotations

import time

import pytest

from mlgym_core.shell import PersistentShell


@pytest.fixture
def sh(tmp_path):
    s = PersistentShell(["bash", "--noprofile", "--norc"], cwd=str(tmp_path), output_cap=1000)
    yield s
    s.close()


def test_state_persists_between_commands(sh, tmp_path):
    (tmp_path / "sub").mkdir()
    assert sh.run("cd sub && export A=1 && B=2 && f() { echo fn; }", 5).returncode == 0
    r = sh.run("pwd; echo $A $B; f; declare -a Y=(1 2); echo ${Y[1]}", 5)
    assert r.output.split("\n")[:4] == [str(tmp_path / "sub"), "1 2", "fn", "2"]
    assert r.cwd == str(tmp_path / "sub")


def test_exit_code_and_stderr_merged(sh):
    r = sh.run("echo out; echo err >&2; false", 5)
    assert r.returncode == 1 and "out" in r.output and "err" in r.output


def test_syntax_error_runs_nothing(sh, tmp_path):
    r = sh.run("touch created\nif then fi (", 5)
    assert r.syntax_error and r.returncode == 2
    assert "syntax error" in r.output and "eval" not in r.output
    assert not (tmp_path / "created").exists()


def test_stdin_is_not_the_control_pipe(sh):
    r = sh.run("cat; read x; echo after", 5)
    assert r.output.strip() == "after"
    assert sh.run("echo still", 5).output == "still\n"


def test_timeout_kills_children_and_keeps_state(sh):
    sh.run("export KEEP=yes; cd /", 5)
    t0 = time.monotonic()
    r = sh.run("sleep 30 & sleep 30; echo never", 1)
    assert time.monotonic() - t0 < 10
    assert r.timed_out and "EXECUTION TIMED OUT" in r.output and "never" not in r.output
    r2 = sh.run("echo $KEEP; pwd", 5)
    assert r2.output == "yes\n/\n" and not r2.restarted


def test_builtin_loop_restarts_the_shell(sh):
    r = sh.run("while :; do :; done", 1)
    assert r.timed_out and r.restarted
    assert sh.run("echo back", 5).output == "back\n"


def test_exit_restarts_the_shell(sh):
    r = sh.run("exit 3", 5)
    assert r.restarted and "new shell" in r.output
    assert sh.run("echo ok", 5).output == "ok\n"


def test_huge_output_is_capped_with_a_note(sh):
    r = sh.run("head -c 50000 /dev/zero | tr '\\0' x", 10)
    assert r.truncated_bytes == 49000
    assert r.output.startswith("x" * 1000) and "49000 bytes cut" in r.output
    assert sh.run("echo fine", 5).output == "fine\n"


def test_non_utf8_and_binary_output(sh):
    r = sh.run("printf 'a\\xff\\x00b\\n'", 5)
    assert r.output == "a\ufffd\x00b\n"


def test_marker_text_in_output_does_not_confuse(sh):
    r = sh.run("printf '\\036fake:0:/x\\036\\n'; echo real", 5)
    assert "real" in r.output


def test_unicode_command(sh):
    assert sh.run("echo 'héllo ✓'", 5).output == "héllo ✓\n"


def test_long_command_text(sh):
    body = "\n".join(f"X{i}={i}" for i in range(5000))
    r = sh.run(body + "\necho $X0 $X4999", 20)
    assert r.output == "0 4999\n"


def test_last_action_is_exported_after_each_command(sh):
    sh.run("echo first", 5)
    assert sh.run("echo $LAST_ACTION", 5).output == "echo first\n"
