"""A persistent bash session driven over pipes: one process for the whole episode.

Each command goes to the shell after a short control line (see :data:`BOOTSTRAP`); the shell checks
its syntax itself (by parsing it as a function body, without starting a process), evaluates it at top level
(so ``cd``, variables and functions persist), and prints an end marker with the exit code
and the working directory. Python waits on the pipe with ``poll`` (any descriptor number, unlike
``select``, which fails above 1024): no busy polling, no sleeps.

Where the bash runs is a :class:`ShellTransport`'s business (how the process is started, how the
command text reaches it, how a timed-out command is stopped); the default runs it as a local
process. A runtime that runs bash elsewhere (a container: ``docker exec -i``) gives
:class:`PersistentShell` its own transport and keeps the protocol above unchanged.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .processes import descendants, find_shell, kill_descendants, nofile_soft, raise_nofile_limit, spawn

DEFAULT_OUTPUT_CAP = 100_000
LAST_ACTION_MAX = 4096
"""Characters of the previous action kept in ``$LAST_ACTION`` (the environment of every later
command carries it, and one variable over 128 KiB makes every ``exec`` fail with E2BIG)."""

BOOTSTRAP = r"""exec 2>&1 @MOVEFD@
__mlgym_c= __mlgym_ea=
__mlgym_r() { unalias __mlgym_s; [[ $__mlgym_ea ]] || shopt -u expand_aliases
  IFS= read -r -N 8 -u @FD@ __mlgym_c; if [[ $__mlgym_c == -* ]]; then IFS= read -r -d '' -u @FD@ __mlgym_c; else IFS= read -r -N $((10#$__mlgym_c)) -u @FD@ __mlgym_c; fi
  if eval $'__mlgym_syn() {\n:\n'"$__mlgym_c"$'\n}'; then unset -f __mlgym_syn; else __mlgym_done S; return 1; fi
}
__mlgym_done() { export LAST_ACTION=${__mlgym_c:0:@LASTMAX@}; if shopt -q expand_aliases; then __mlgym_ea=1; else __mlgym_ea=; shopt -s expand_aliases; fi; alias __mlgym_s=@STEP@; printf '\036%s:%s:%s\036\n' "@NONCE@" "$1" "$PWD"; }
__mlgym_abort() { shopt -s extdebug; trap __mlgym_skip DEBUG; }
__mlgym_skip() { [[ $BASH_COMMAND == __mlgym_done* ]] || return 1; trap - DEBUG; shopt -u extdebug; }
trap __mlgym_abort USR1
"""
"""The script every shell runs first (see :func:`bootstrap_script`, which fills its placeholders)."""
# On a timeout the driver sends SIGUSR1 to the shell, then kills what the command started:
# the trap makes bash skip the rest of the timed-out command (extdebug + a DEBUG trap that
# fails) up to the end marker, so ``a; b`` never runs ``b`` after ``a`` was killed.
#
# Each step is one control line, ``__mlgym_s``: an alias (bash reads its input from a pipe one byte
# at a time, so the line is kept short) whose text bash parses at top level, as if typed: the command
# runs by ``eval`` outside any function (``declare``, ``set --``, ``return``, a top-level ``break``
# behave as typed at a prompt). The alias lives only between two commands: ``__mlgym_r`` removes it
# and turns ``expand_aliases`` back to the command's own setting (off unless a command turned it on)
# before the command is parsed; ``__mlgym_done`` notes that setting and turns it on again, and makes
# the alias, for the next control line. The bootstrap keeps its line count and the line of the syntax
# check (bash's ``line N`` in error messages counts them).
# The command text follows, on the shell's stdin (or the transport's fd 3): 8 characters, its length
# in bytes, then the text, read by one ``read -N`` (a byte is a character for ASCII text in every
# locale); a text with other bytes comes after ``--------`` up to a NUL, read a byte at a time.
_STEP_LINE = b"__mlgym_s\n"
_STEP_ALIAS = '__mlgym_r&&{ eval "$__mlgym_c" </dev/null@CLOSEFD@; __mlgym_done $?; }'


def bootstrap_script(nonce: str, command_fd: str = "") -> str:
    """:data:`BOOTSTRAP` with its placeholders filled: ``nonce`` marks the end of each command's
    output; ``command_fd`` is the redirection that puts the command text on the shell's fd 3
    (``""`` when it already is, ``"3<&0"`` when the text shares stdin with the control lines: the
    shell then reads it from stdin itself and opens no fd 3)."""
    shared = command_fd == "3<&0"
    step = _STEP_ALIAS.replace("@CLOSEFD@", "" if shared else " 3<&-")
    return (BOOTSTRAP.replace("@NONCE@", nonce).replace("@LASTMAX@", str(LAST_ACTION_MAX))
            .replace("@MOVEFD@", "" if shared else command_fd).replace("@FD@", "0" if shared else "3")
            .replace("@STEP@", shlex.quote(step)))


def frame_command(command: str) -> bytes:
    """The bytes that carry ``command`` to the shell after its control line (see :data:`BOOTSTRAP`)."""
    data = encode_command(command)
    if data.isascii() and len(data) < 10**8:
        return b"%08d" % len(data) + data
    return b"--------" + data + b"\0"


@dataclass
class ShellResult:
    output: str
    returncode: int
    timed_out: bool = False
    syntax_error: bool = False
    truncated_bytes: int = 0
    cwd: str | None = None
    restarted: bool = False


class ShellDied(Exception):
    pass


@dataclass
class Started:
    """A bash process a :class:`ShellTransport` started, as :class:`PersistentShell` drives it.

    ``proc``'s stdin and stdout are pipes (stderr merged into stdout); the control lines go to its
    stdin. ``command_fd`` is the descriptor (ours) the command text is written to: a pipe of its
    own, or a duplicate of ``proc.stdin``'s. ``fd_setup`` is the shell redirection that puts that
    text on the shell's fd 3 (see :func:`bootstrap_script`), and ``prelude`` lines the shell runs
    before the caller's ``init``."""

    proc: subprocess.Popen[bytes]
    command_fd: int
    fd_setup: str = ""
    prelude: str = ""


class ShellTransport:
    """How a :class:`PersistentShell` starts its bash and stops a timed-out command.

    The default runs ``argv`` as a local process in a session of its own, with the command text on
    stdin after each control line (one write per step). A runtime whose shell lives elsewhere (a
    container) subclasses it and overrides :meth:`start` and :meth:`interrupt`; the rest (the
    bootstrap, the marker protocol, output caps, timeouts, restarts) stays the shell's."""

    start_timeout: float = 30.0
    """Seconds the shell may take to run the bootstrap and ``init`` before it counts as failed."""

    def start(self, shell: PersistentShell) -> Started:
        """Start bash from ``shell.argv`` (with ``shell.env``, ``shell.cwd``, ``shell.preexec_fn``)."""
        user_soft = raise_nofile_limit()
        proc = spawn(
            shell.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=shell.env, cwd=shell.cwd, preexec_fn=shell.preexec_fn, start_new_session=True, bufsize=0)
        # the commands get the caller's soft descriptor limit back (programs using select() need <= 1024)
        limit = f"ulimit -Sn {user_soft} 2>/dev/null\n" if user_soft < nofile_soft() else ""
        assert proc.stdin is not None
        return Started(proc, os.dup(proc.stdin.fileno()), "3<&0", limit)

    def interrupt(self, shell: PersistentShell) -> int:
        """Stop the command that timed out: SIGUSR1 to the session's bash (its trap skips the rest of
        the command), then SIGKILL to every process below it. Returns how many processes were found
        to kill (0: the shell itself is busy, and gets restarted)."""
        bash = find_shell(shell.pid, descendants(shell.pid))
        if bash is not None:
            try:
                os.kill(bash, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        return kill_descendants(shell.pid, exclude_shell=True)


class PersistentShell:
    """Drive one bash process. ``argv`` starts it (e.g. a bwrap command line ending in bash);
    ``transport`` says how (default: a local process, :class:`ShellTransport`)."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                 preexec_fn: Callable[[], None] | None = None, output_cap: int = DEFAULT_OUTPUT_CAP,
                 init: str = "", transport: ShellTransport | None = None) -> None:
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.output_cap = output_cap
        self.init = init
        self.transport = transport or _LOCAL
        self.proc: subprocess.Popen[bytes] | None = None
        self.inner_pid = 0
        """The bash's pid as it sees itself (``$$``: in its own pid namespace, if it has one)."""
        self._begin()
        self._start()

    # -- lifecycle -------------------------------------------------------------------
    def _start(self) -> None:
        self.nonce = secrets.token_hex(8)
        self._marker = ("\x1e" + self.nonce + ":").encode()
        started = self.transport.start(self)
        self.proc, self._wfd = started.proc, started.command_fd
        self._shared = started.fd_setup == "3<&0"
        try:  # whatever fails from here on, the process just started must not outlive this call
            self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
            os.set_blocking(self._fd, False)
            self._poller = select.poll()
            self._poller.register(self._fd, select.POLLIN)
            boot = (bootstrap_script(self.nonce, started.fd_setup) + started.prelude + self.init
                    + '\n__mlgym_done "0 $$"\n')
            self._write(boot.encode())
            self._begin()
            wait = self.transport.start_timeout
            try:
                res = self._read_until_marker(wait)
            except ShellDied:
                res = ("", "")
            out, _dropped = self._take()
            if res is None:
                raise ShellDied(f"the sandbox shell did not start within {wait:g} s")
            status, _, pid = res[0].partition(" ")
            if status != "0":
                raise ShellDied(f"the sandbox shell failed to start: {out.strip()[-500:] or 'it exited'}")
            self.inner_pid = _int(pid)
        except BaseException:
            self.kill()
            raise
        self.startup_output = out

    def restart(self) -> None:
        self.kill()
        self._start()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.close(self._wfd)
        except OSError:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except Exception:
                pass

    close = kill

    # -- I/O -----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise ShellDied(f"the sandbox shell is gone ({exc})") from None

    def _begin(self) -> None:
        """Start collecting one command's output: every read of it, on every path, goes through
        ``_keep`` and its one cap, until ``_take``."""
        self._kept = bytearray()
        self._dropped = 0
        self._pending = b""

    def _keep(self, data: bytes) -> None:
        room = max(self.output_cap - len(self._kept), 0)
        self._kept += data[:room]
        self._dropped += max(len(data) - room, 0)

    def _take(self) -> tuple[str, int]:
        """The output collected since ``_begin`` (with the cap's note if bytes were cut), and how many were cut."""
        self._keep(self._pending)
        kept, dropped = bytes(self._kept), self._dropped
        self._begin()
        text = _decode(kept)
        if len(text) > self.output_cap:  # an invalid byte reads as 4 characters (\xff): cap the text too
            lo, hi = 0, len(kept)  # the longest prefix whose text fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if len(_decode(kept[:mid])) <= self.output_cap else (lo, mid - 1)
            text, dropped, kept = _decode(kept[:lo]), dropped + len(kept) - lo, kept[:lo]
        if dropped:
            text += f"\n[output truncated: {dropped} bytes cut; the first {len(kept)} bytes are shown]"
        return text, dropped

    def _wait(self, timeout: float) -> bool:
        return bool(self._poller.poll(max(timeout, 0.0) * 1000))

    def _read_until_marker(self, timeout: float) -> tuple[str, str] | None:
        """Read until the end marker; return (exit code text, cwd), or None on timeout. Raises ShellDied on EOF.

        The output goes to ``_keep``. The last ``len(marker) - 1`` bytes read are held back in
        ``_pending`` until more arrive, since they may be the start of a marker split across two reads."""
        fd = self._fd
        marker = self._marker
        hold = len(marker) - 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not self._wait(left):
                    return None
                continue
            if not chunk:
                raise ShellDied("the sandbox shell exited")
            buf = self._pending + chunk
            idx = buf.find(marker)
            if idx < 0:
                self._keep(buf[:-hold])
                self._pending = buf[-hold:]
                continue
            self._pending = b""
            self._keep(buf[:idx])
            end = buf.find(b"\x1e", idx + len(marker))
            while end < 0:  # the rest of the marker is still in flight
                more = os.read(fd, 1 << 16) if self._wait(5.0) else b""
                if not more:
                    raise ShellDied("the sandbox shell exited mid-marker")
                buf += more
                end = buf.find(b"\x1e", idx + len(marker))
            rc_s, _, cwd = buf[idx + len(marker):end].decode(errors="replace").partition(":")
            return rc_s, cwd

    def run(self, command: str, timeout: float) -> ShellResult:
        """Run one command; on timeout kill what it started and keep the shell usable."""
        early = self.send(command)
        return early if early is not None else self.result(timeout)

    def send(self, command: str) -> ShellResult | None:
        """Start ``command`` and return at once: None, then :meth:`result` (or :meth:`ready`) gives its
        result; or the result itself when the shell was gone (a new shell was started)."""
        if not self.alive():
            self.restart()
        self._begin()
        data = frame_command(command)
        if self._shared:
            data = _STEP_LINE + data
        else:
            self._write(_STEP_LINE)
        try:
            while data:
                data = data[os.write(self._wfd, data):]
        except OSError as exc:
            self.restart()
            return ShellResult(f"(the shell was gone: {exc}; a new shell was started)", -1, restarted=True)
        return None

    def fileno(self) -> int:
        """The descriptor the output arrives on (for ``poll``: readable when :meth:`ready` may have news)."""
        return self._fd

    def ready(self) -> ShellResult | None:
        """Without waiting: the result of the command :meth:`send` started if its end marker has
        arrived, else None (call again when :meth:`fileno` is readable). Raises :class:`ShellDied`
        when the shell exited: :meth:`result` then gives the result and restarts the shell."""
        res = self._read_until_marker(0.0)
        return None if res is None else self._finished(res)

    def result(self, timeout: float, wait: float | None = None) -> ShellResult:
        """Wait for the result of the command :meth:`send` started, ``wait`` seconds from now (default:
        ``timeout``, the command's time limit); past that, kill what it started and keep the shell usable."""
        try:
            res = self._read_until_marker(timeout if wait is None else wait)
        except ShellDied:
            text, dropped = self._take()
            self.restart()
            return ShellResult(text + "\n(the shell exited; a new shell was started in the workspace, variables "
                               "and the working directory were reset)", -1, restarted=True, truncated_bytes=dropped)
        if res is None:
            return self._interrupt(timeout)
        return self._finished(res)

    def _finished(self, res: tuple[str, str]) -> ShellResult:
        rc_s, cwd = res
        text, dropped = self._take()
        syntax = rc_s == "S"
        if syntax:
            text = _fix_syntax_lines(text)
        return ShellResult(text, 2 if syntax else _int(rc_s), syntax_error=syntax, truncated_bytes=dropped, cwd=cwd)

    def _interrupt(self, timeout: float) -> ShellResult:
        killed = self.transport.interrupt(self)
        try:  # with nothing to kill the shell itself is busy (a builtin loop): restart it at once
            res = self._read_until_marker(5.0 if killed else 0.2)
        except ShellDied:
            res = None
        text, dropped = self._take()
        text += f"\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN {timeout:g} SECONDS."
        if res is None:
            self.restart()
            return ShellResult(text + "\n(the shell was restarted in the workspace; variables and the working "
                               "directory were reset)", -1, timed_out=True, restarted=True, truncated_bytes=dropped)
        return ShellResult(text, 137, timed_out=True, cwd=res[1], truncated_bytes=dropped)


_LOCAL = ShellTransport()

# Lone surrogates other than U+DC80..U+DCFF (which stand for raw bytes under surrogateescape).
_OTHER_SURROGATES = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def encode_command(text: str) -> bytes:
    """The bytes bash gets for ``text``: UTF-8, NULs dropped. A lone surrogate U+DC80..U+DCFF is the raw
    byte 0x80..0xFF (Python's surrogateescape, as ``os.fsdecode`` and ``sys.argv`` give undecodable bytes);
    any other lone surrogate, which no bytes stand for, becomes U+FFFD."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = _OTHER_SURROGATES.sub("\ufffd", text).encode("utf-8", "surrogateescape")
    return data.replace(b"\0", b"")


_EVAL_LINE = re.compile(r"^[^\n:]*: eval: line (\d+):", re.M)


def _fix_syntax_lines(text: str) -> str:
    return _EVAL_LINE.sub(lambda m: f"bash: line {max(int(m.group(1)) - 2, 1)}:", text)


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return -1


def _decode(data: bytes) -> str:
    """MLGym's decoding of shell output: an invalid byte shows as the four characters ``\\xff``."""
    return data.decode("utf-8", errors="backslashreplace")
