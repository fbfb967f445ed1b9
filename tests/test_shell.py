"""The persistent shell: state persists, syntax is checked without running anything, timeouts
kill what the command started and keep the session usable, output is capped and decoded."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time

import pytest

from mlgym_core.shell import LAST_ACTION_MAX, PersistentShell


@pytest.fixture
def sh(tmp_path):
    s = PersistentShell(["bash", "--noprofile", "--norc"], cwd=str(tmp_path), output_cap=1000,
                        init="scroll_down() { :; }")
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
    # as MLGym (errors="backslashreplace"): an invalid byte shows as the four characters \xff
    r = sh.run("printf 'a\\xff\\x00b\\n'", 5)
    assert r.output == "a\\xff\x00b\n"
    assert sh.run("printf '\\xe2\\x9c\\x93 \\xe2\\x9c'", 5).output == "\u2713 \\xe2\\x9c"  # a cut character too
    # the cap (1000 here) holds for the text too: 600 invalid bytes would be 2400 characters
    r = sh.run("head -c 600 /dev/zero | tr '\\0' '\\377'", 5)
    assert r.output.startswith("\\xff" * 250 + "\n[output truncated: 350 bytes cut; the first 250 bytes are shown]")
    assert r.truncated_bytes == 350


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


def test_huge_action_does_not_break_later_commands(sh):
    # $LAST_ACTION is exported to every later command: a whole 200 KB action there made each exec fail (E2BIG)
    r = sh.run("true " + "x" * 200_000, 20)
    assert r.returncode == 0
    r = sh.run("/bin/echo ok; echo ${#LAST_ACTION}", 5)
    assert r.output == f"ok\n{LAST_ACTION_MAX}\n"
    sh.run("scroll_down", 5)
    assert sh.run('[ "$LAST_ACTION" = scroll_down ] && echo same', 5).output == "same\n"


@pytest.mark.parametrize("command", ["yes", "while :; do echo yyyyyyyyyy; done"])
def test_timed_out_endless_output_keeps_the_cap_and_its_note(sh, command):
    r = sh.run(command, 0.5)
    assert r.timed_out and r.truncated_bytes > 0
    assert len(r.output.encode()) < 1000 + 400  # the cap (1000) plus the notes, whichever path ran
    assert "bytes cut; the first 1000 bytes are shown" in r.output and "EXECUTION TIMED OUT" in r.output
    assert sh.run("echo fine", 5).output == "fine\n"


def test_output_of_a_shell_that_exits_is_capped(sh):
    r = sh.run("head -c 5000 /dev/zero | tr '\\0' x; exit 1", 5)
    assert r.restarted and r.truncated_bytes == 4000 and "4000 bytes cut" in r.output


def test_lone_surrogates(sh, tmp_path):
    # U+DC80..U+DCFF are raw bytes (surrogateescape, as os.listdir gives them); others become U+FFFD
    name = os.fsdecode(b"f\xff")
    r = sh.run(f"touch {name}; ls", 5)
    assert r.returncode == 0 and os.listdir(tmp_path) == [name]
    assert sh.run("echo \ud800 \udc80", 5).output == "\ufffd \\x80\n"  # the raw byte 0x80 comes back escaped


def test_descriptors_above_1024(tmp_path):
    """A shell started when the process already holds over 1024 descriptors (select() cannot see
    them); the soft descriptor limit is raised to the hard one, the commands get the old one back."""
    code = textwrap.dedent("""
        import os, resource
        from mlgym_core.shell import PersistentShell
        first = PersistentShell(["bash", "--noprofile", "--norc"])
        pipes = [os.pipe() for _ in range(550)]
        sh = PersistentShell(["bash", "--noprofile", "--norc"])
        assert sh._fd > 1024, sh._fd
        r = sh.run("echo hi; ulimit -Sn", 5)
        r2 = sh.run("sleep 5", 0.3)
        print(repr(r.output), r2.timed_out, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        for a, b in pipes:
            os.close(a)
            os.close(b)
        sh.close()
        first.close()
    """)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard descriptor limit is {hard}")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["'hi\\n1024\\n'", "True", str(hard if hard != resource.RLIM_INFINITY else 1 << 20)]


def test_a_transport_decides_how_bash_starts_and_how_a_timeout_stops_it(tmp_path):
    """The public seam a container runtime uses: the command text on stdin with the control lines
    (as over ``docker exec -i``), the transport's own interrupt, the bash's own pid reported."""
    from mlgym_core import PersistentShell as Shell
    from mlgym_core import ShellTransport, Started

    class SharedStdin(ShellTransport):
        start_timeout = 10.0
        interrupts = 0

        def start(self, shell):
            proc = subprocess.Popen(shell.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, cwd=shell.cwd, start_new_session=True, bufsize=0)
            return Started(proc, os.dup(proc.stdin.fileno()), fd_setup="3<&0")

        def interrupt(self, shell):
            self.interrupts += 1
            return super().interrupt(shell)

    transport = SharedStdin()
    s = Shell(["bash", "--noprofile", "--norc"], cwd=str(tmp_path), transport=transport, init="X=from-init")
    try:
        assert s.inner_pid == s.pid  # no pid namespace here: $$ is the process we started
        r = s.run("cd /tmp && echo $X; printf 'multi\\nline\\n'", 5)
        assert (r.output, r.returncode, r.cwd) == ("from-init\nmulti\nline\n", 0, "/tmp")
        r = s.run("sleep 30; echo never", 0.5)
        assert r.timed_out and "never" not in r.output and transport.interrupts == 1
        assert s.run("echo $X", 5).output == "from-init\n"  # the same shell goes on
    finally:
        s.close()
