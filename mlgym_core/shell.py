"""A persistent bash session driven over pipes: one process for the whole episode.

Each command goes to the shell as a here-document; the shell checks its syntax itself
(by parsing it as a function body, without starting a process), evaluates it at top level
(so ``cd``, variables and functions persist), and prints an end marker with the exit code
and the working directory. Python waits on the pipe with ``select``: no polling, no sleeps.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_OUTPUT_CAP = 100_000

_BOOTSTRAP = r"""exec 2>&1 @MOVEFD@
__mlgym_r() {
  IFS= read -r -d '' -u 3 __mlgym_c
  if eval $'__mlgym_syn() {\n:\n'"$__mlgym_c"$'\n}'; then unset -f __mlgym_syn; else __mlgym_done S; return 1; fi
}
__mlgym_done() { export LAST_ACTION=${__mlgym_c-}; printf '\036%s:%s:%s\036\n' "@NONCE@" "$1" "$PWD"; }
__mlgym_abort() { shopt -s extdebug; trap __mlgym_skip DEBUG; }
__mlgym_skip() { [[ $BASH_COMMAND == __mlgym_done* ]] || return 1; trap - DEBUG; shopt -u extdebug; }
trap __mlgym_abort USR1
"""
# On a timeout the driver sends SIGUSR1 to the shell, then kills what the command started:
# the trap makes bash skip the rest of the timed-out command (extdebug + a DEBUG trap that
# fails) up to the end marker, so ``a; b`` never runs ``b`` after ``a`` was killed.
# One short control line per step; the command text itself travels on fd 3, NUL-terminated.
_STEP = b'__mlgym_r&&{ eval "$__mlgym_c" </dev/null 3<&-; __mlgym_done $?; }\n'


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


class PersistentShell:
    """Drive one bash process. ``argv`` starts it (e.g. a bwrap command line ending in bash)."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                 preexec_fn: Callable[[], None] | None = None, output_cap: int = DEFAULT_OUTPUT_CAP,
                 init: str = "") -> None:
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.output_cap = output_cap
        self.init = init
        self.proc: subprocess.Popen[bytes] | None = None
        self._start()

    # -- lifecycle -------------------------------------------------------------------
    def _start(self) -> None:
        self.nonce = secrets.token_hex(8)
        self._marker = ("\x1e" + self.nonce + ":").encode()
        rfd, self._wfd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, preexec_fn=self.preexec_fn, start_new_session=True, bufsize=0,
                pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        os.set_blocking(self._fd, False)
        boot = _BOOTSTRAP.replace("@NONCE@", self.nonce).replace(
            "@MOVEFD@", "" if rfd == 3 else f"3<&{rfd} {rfd}<&-") + self.init + "\n__mlgym_done 0\n"
        self._write(boot.encode())
        res = self._read_until_marker(30.0)
        if res is None:
            self.kill()
            raise ShellDied("the sandbox shell did not start within 30 s")
        out, rc_s, _cwd, _trunc = res
        if rc_s != "0":
            self.kill()
            raise ShellDied(f"the sandbox shell failed to start: {_decode(out).strip()[-500:]}")
        self.startup_output = _decode(out)

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

    def _read_until_marker(self, timeout: float) -> tuple[bytes, str, str, int] | None:
        """Read until the end marker; None on timeout. Raises ShellDied on EOF.

        Returns (output kept, exit code text, cwd, bytes dropped past the output cap). The last
        ``len(marker) - 1`` bytes read are held back until more arrive, since they may be the
        start of a marker split across two reads."""
        fd = self._fd
        marker = self._marker
        hold = len(marker) - 1
        cap = self.output_cap
        kept = bytearray()
        pending = b""
        dropped = 0

        def keep(data: bytes) -> None:
            nonlocal dropped
            room = max(cap - len(kept), 0)
            kept.extend(data[:room])
            dropped += max(len(data) - room, 0)

        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    self._partial = bytes(kept) + pending
                    return None
                continue
            if not chunk:
                self._partial = bytes(kept) + pending
                raise ShellDied("the sandbox shell exited")
            buf = pending + chunk
            idx = buf.find(marker)
            if idx < 0:
                keep(buf[:-hold])
                pending = buf[-hold:]
                continue
            end = buf.find(b"\x1e", idx + len(marker))
            while end < 0:  # the rest of the marker is still in flight
                more = os.read(fd, 1 << 16) if select.select([fd], [], [], 5.0)[0] else b""
                if not more:
                    raise ShellDied("the sandbox shell exited mid-marker")
                buf += more
                end = buf.find(b"\x1e", idx + len(marker))
            keep(buf[:idx])
            rc_s, _, cwd = buf[idx + len(marker):end].decode(errors="replace").partition(":")
            return bytes(kept), rc_s, cwd, dropped

    def run(self, command: str, timeout: float) -> ShellResult:
        """Run one command; on timeout kill what it started and keep the shell usable."""
        if not self.alive():
            self.restart()
        self._write(_STEP)
        data = command.encode("utf-8", "surrogateescape").replace(b"\0", b"") + b"\0"
        try:
            while data:
                data = data[os.write(self._wfd, data):]
        except OSError as exc:
            self.restart()
            return ShellResult(f"(the shell was gone: {exc}; a new shell was started)", -1, restarted=True)
        try:
            res = self._read_until_marker(timeout)
        except ShellDied:
            partial = getattr(self, "_partial", b"")
            self.restart()
            return ShellResult(_decode(partial) + "\n(the shell exited; a new shell was started in the workspace, "
                               "variables and the working directory were reset)", -1, restarted=True)
        if res is None:
            return self._interrupt(timeout)
        out, rc_s, cwd, dropped = res
        text = _decode(out)
        syntax = rc_s == "S"
        rc = 2 if syntax else _int(rc_s)
        if syntax:
            text = _fix_syntax_lines(text)
        if dropped:
            text += f"\n[output truncated: {dropped} bytes cut; the first {self.output_cap} bytes are shown]"
        return ShellResult(text, rc, syntax_error=syntax, truncated_bytes=dropped, cwd=cwd)

    def _interrupt(self, timeout: float) -> ShellResult:
        partial = getattr(self, "_partial", b"")
        shell = _find_shell(self.pid, descendants(self.pid))
        if shell is not None:
            try:
                os.kill(shell, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        killed = kill_descendants(self.pid, exclude_shell=True)
        try:  # with nothing to kill the shell itself is busy (a builtin loop): restart it at once
            res = self._read_until_marker(5.0 if killed else 0.2)
        except ShellDied:
            res = None
        note = f"\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN {timeout:g} SECONDS."
        if res is None:
            self.restart()
            return ShellResult(_decode(partial) + note + "\n(the shell was restarted in the workspace; variables "
                               "and the working directory were reset)", -1, timed_out=True, restarted=True)
        out, _rc, cwd, dropped = res
        return ShellResult(_decode(partial + out) + note, 137, timed_out=True, cwd=cwd, truncated_bytes=dropped)


_EVAL_LINE = re.compile(r"^[^\n:]*: eval: line (\d+):", re.M)


def _fix_syntax_lines(text: str) -> str:
    return _EVAL_LINE.sub(lambda m: f"bash: line {max(int(m.group(1)) - 2, 1)}:", text)


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return -1


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def descendants(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def kill_descendants(pid: int, *, exclude_shell: bool) -> int:
    """SIGKILL every process below ``pid`` except the session's bash; returns how many were found."""
    procs = descendants(pid)
    shell = _find_shell(pid, procs) if exclude_shell else None
    keep = ({shell} | _ancestors_of(shell, pid)) if shell is not None else set()
    found = len([p for p in procs if p not in keep])
    for _ in range(3):
        targets = [p for p in procs if p not in keep]
        if not targets:
            break
        for p in targets:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
        procs = descendants(pid)
    return found


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _find_shell(root: int, procs: list[int]) -> int | None:
    """The session's bash: ``root`` itself or its first bash descendant (below bwrap/docker)."""
    if _comm(root) == "bash":
        return root
    for p in sorted(procs):
        if _comm(p) == "bash":
            return p
    return None


def _ancestors_of(pid: int, root: int) -> set[int]:
    out: set[int] = set()
    p = pid
    while p and p != root:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            break
        p = int(stat[stat.rfind(b")") + 2:].split()[1])
        out.add(p)
    return out
