"""Run agent code on a grader's behalf, where it cannot reach the grader (stdlib only).

mlgym lays this file next to every evaluator (``/home/agent/grader/mlgym_worker.py``). An
evaluator that must execute the agent's code (a game strategy, a SAT heuristic, a policy
network, a language model) starts it with :func:`spawn` and talks to it over a private pair
of pipes; the evaluator computes the score itself, from what the worker answers::

    import mlgym_worker
    w = mlgym_worker.spawn(PROGRAM, ["arg"], code="/home/agent/workspace")
    header, payload = w.request({"games": 10}, timeout=60)
    w.close()

``PROGRAM`` is Python source run in the worker with a global ``channel`` (a :class:`Channel`);
:func:`serve` answers requests with a handler. In the worker, standard output goes to standard
error, which the evaluator keeps a capped tail of and never copies to its own standard output.

Isolation (``Worker.isolation``), best first:

- ``bwrap``: a nested bubblewrap with its own user, pid, mount, network and IPC namespaces, a
  new session, no capabilities, ``--die-with-parent``; it sees the system and the Python
  install read-only, the agent's code folder (read-only, minus any mount below it such as
  ``data/``), the files named in ``files`` and a private /tmp: never the grader's folder, the
  hidden data or the evaluator, and no process but its own.
- ``uid``: no usable bwrap and the evaluator runs as root (a container): the worker runs as an
  unprivileged uid (``MLGYM_WORKER_UID``, default 65534), so it cannot open the evaluator's
  /proc entries; it can read what that uid may read.
- ``none``: the same uid, with nothing hidden; only the evaluator's non-dumpable flag (set by
  :func:`spawn`) keeps its /proc/<pid>/fd and memory closed to the worker.

Every worker inherits no descriptor but its pipes, and its output never reaches the evaluator's.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

HEADER_CAP = 1 << 20
DEFAULT_PAYLOAD_CAP = 64 << 20
LOG_CAP = 16 << 10
FDS_ENV = "MLGYM_WORKER_FDS"
ISOLATION_ENV = "MLGYM_WORKER_ISOLATION"  # "none" or "uid": a weaker isolation, for tests
UID_ENV = "MLGYM_WORKER_UID"
PROC_FILES = ("cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version", "filesystems")
_HERE = os.path.dirname(os.path.abspath(__file__))
_BOOT = ("import sys; sys.path.insert(0, {here!r}); import mlgym_worker; mlgym_worker._boot()")


class WorkerError(Exception):
    """The worker failed, stopped, timed out or broke the protocol (the message says which)."""


def no_inspection() -> None:
    """Make this process non-dumpable: processes of the same uid can no longer ptrace it or
    open its /proc/<pid>/fd, mem and environ."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


class Channel:
    """Framed messages over a pair of pipes: ``<II`` lengths, a JSON header, a binary payload."""

    def __init__(self, rfd: int, wfd: int, max_payload: int = DEFAULT_PAYLOAD_CAP) -> None:
        self.rfd, self.wfd, self.max_payload = rfd, wfd, max_payload

    def send(self, header: dict, payload: bytes | bytearray | memoryview = b"") -> None:
        h = json.dumps(header, allow_nan=False).encode()
        data = memoryview(struct.pack("<II", len(h), len(payload)) + h)
        for view in (data, memoryview(payload).cast("B")):
            while view:
                view = view[os.write(self.wfd, view):]

    def recv(self, timeout: float | None = None) -> tuple[dict, bytearray]:
        deadline = None if timeout is None else time.monotonic() + timeout
        hl, pl = struct.unpack("<II", self._read(8, deadline))
        if hl > HEADER_CAP or pl > self.max_payload:
            raise WorkerError(f"message of {hl} + {pl} bytes, over the cap of {HEADER_CAP} + {self.max_payload}")
        try:
            header = json.loads(bytes(self._read(hl, deadline)))
        except ValueError:
            raise WorkerError("message header is not JSON") from None
        if not isinstance(header, dict):
            raise WorkerError("message header is not a JSON object")
        return header, self._read(pl, deadline)

    def _read(self, n: int, deadline: float | None) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                    raise TimeoutError
            k = os.readv(self.rfd, [view[got:]])
            if k == 0:
                raise EOFError
            got += k
        return buf

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


# -- in the worker -------------------------------------------------------------------------
channel: Channel | None = None


def _boot() -> None:
    """Entry of a worker process: take the channel, keep the agent's prints off it, run the program."""
    global channel
    rfd, wfd = (int(x) for x in os.environ.pop(FDS_ENV).split(","))
    channel = Channel(rfd, wfd, max_payload=1 << 40)
    os.set_inheritable(rfd, False)
    os.set_inheritable(wfd, False)
    os.dup2(2, 1)  # anything written to stdout lands in the capped log
    sys.stdout = sys.stderr
    program, sys.argv = sys.argv[1], sys.argv[1:]
    sys.argv[0] = "worker"
    exec(compile(program, "<worker>", "exec"), {"__name__": "__main__", "channel": channel})


def serve(handler, ch: Channel | None = None) -> None:
    """Answer requests until the evaluator closes the pipe: ``handler(header, payload)`` returns
    ``(header, payload)``; an exception is sent back as ``{"error": ...}`` and ends the worker."""
    ch = ch or channel
    assert ch is not None
    while True:
        try:
            header, payload = ch.recv()
        except EOFError:
            return
        try:
            reply, data = handler(header, payload)
        except BaseException as exc:  # noqa: BLE001 - reported to the evaluator, which decides
            send_error(f"{type(exc).__name__}: {exc}", ch)
            raise SystemExit(1) from None
        ch.send(reply, data)


def send_error(message: str, ch: Channel | None = None) -> None:
    """Tell the evaluator what went wrong (shown to the agent)."""
    import traceback

    traceback.print_exc()
    (ch or channel).send({"error": str(message)[:2000]})  # type: ignore[union-attr]


# -- in the evaluator ----------------------------------------------------------------------
_ISOLATION: str | None = None


def isolation() -> str:
    """The best isolation available here: ``bwrap``, ``uid`` or ``none`` (see the module doc)."""
    global _ISOLATION
    if _ISOLATION is None:
        want = os.environ.get(ISOLATION_ENV, "")
        bwrap = shutil.which("bwrap")
        _ISOLATION = "none"
        if bwrap and want not in ("uid", "none"):
            probe = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--", "true"]
            if subprocess.run(probe, capture_output=True, stdin=subprocess.DEVNULL).returncode == 0:
                _ISOLATION = "bwrap"
        if _ISOLATION == "none" and os.geteuid() == 0 and want != "none":
            _ISOLATION = "uid"
    return _ISOLATION


def _mounts_below(path: str) -> list[str]:
    """Mount points strictly below ``path`` (hidden data bound into the workspace, ...)."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp.startswith(path.rstrip("/") + "/"):
                    out.append(mp)
    except OSError:
        pass
    return sorted(set(out), key=len)


def _python_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    system = ("/usr", "/bin", "/lib", "/sbin", "/opt")
    return sorted(r for r in roots if os.path.isdir(r) and r != "/" and not r.startswith(system))


def bwrap_argv(argv: list[str], *, code: str | None, files: list[str], gpus: bool) -> list[str]:
    a = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
         "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "worker"]
    for top in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin", "/opt"):
        if os.path.islink(top):
            a += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            a += ["--ro-bind", top, top]
    a += ["--ro-bind-try", "/etc", "/etc"]
    # No /proc of its own: inside a sandbox whose /proc has read-only parts bound over it the
    # kernel refuses a new proc mount (it would reveal them), and the parent's /proc would show
    # the grader's processes. The worker gets the machine-wide files only.
    a += ["--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/proc"]
    for root in _python_roots():  # after the tmpfs: a venv under /tmp stays visible
        a += ["--ro-bind", root, root]
    for name in PROC_FILES:
        a += ["--ro-bind-try", f"/proc/{name}", f"/proc/{name}"]
    if gpus:  # the device nodes and the driver's machine-wide /proc entries (untested on a GPU host)
        for node in sorted(glob.glob("/dev/nvidia*")):
            a += ["--dev-bind-try", node, node]
        a += ["--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    if code:
        a += ["--ro-bind", code, code]
        for mp in _mounts_below(os.path.realpath(code)):
            a += ["--tmpfs", mp]
    for f in [os.path.join(_HERE, "mlgym_worker.py"), *files]:
        a += ["--ro-bind", f, f]
    a += ["--remount-ro", "/", "--chdir", code or "/tmp", "--"]
    return a + argv


class Tail:
    """Drains a pipe in a thread and keeps its last ``cap`` bytes (``dropped``: bytes let go)."""

    def __init__(self, pipe, cap: int) -> None:
        self.pipe, self.cap = pipe, cap
        self.buf = bytearray()
        self.dropped = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.buf += chunk
            if len(self.buf) > 2 * self.cap:
                self._trim()

    def _trim(self) -> None:
        cut = max(0, len(self.buf) - self.cap)
        del self.buf[:cut]
        self.dropped += cut

    def text(self) -> str:
        return bytes(self.buf[-self.cap:]).decode("utf-8", "replace")

    def finish(self, timeout: float = 10) -> bytes:
        """Wait for the end of the pipe (at most ``timeout`` s: a stray process may hold it) and
        return what was kept."""
        self.thread.join(timeout=timeout)
        self.pipe.close()
        self._trim()
        return bytes(self.buf)


class Worker:
    """A running worker: :meth:`request` sends a message and returns the answer."""

    def __init__(self, proc: subprocess.Popen, ch: Channel, isolation: str) -> None:
        self.proc, self.channel, self.isolation = proc, ch, isolation
        self._log = Tail(proc.stdout, LOG_CAP)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the worker's output, every line indented (none can pass for a metrics line)."""
        text = self._log.text()
        tail = [f"  worker| {ln}" for ln in text.splitlines()[-lines:]]
        return ("\n" + "\n".join(tail)) if tail else ""

    def send(self, header: dict, payload: bytes | bytearray | memoryview = b"") -> None:
        try:
            self.channel.send(header, payload)
        except OSError:
            try:  # it may have said why before it stopped
                said, _ = self.channel.recv(timeout=2)
            except (OSError, EOFError, TimeoutError, WorkerError, struct.error):
                said = {}
            raise self._failed(str(said.get("error", "the worker stopped"))[:2000]) from None

    def recv(self, timeout: float | None = None) -> tuple[dict, bytearray]:
        try:
            header, payload = self.channel.recv(timeout)
        except EOFError:
            raise self._failed("the worker stopped without answering") from None
        except TimeoutError:
            raise self._failed(f"the worker did not answer within {timeout:g} s") from None
        except (WorkerError, struct.error) as exc:
            raise self._failed(f"the worker broke the protocol: {exc}") from None
        if "error" in header:
            raise self._failed(str(header["error"])[:2000])
        return header, payload

    def request(self, header: dict, payload: bytes | bytearray | memoryview = b"",
                timeout: float | None = None) -> tuple[dict, bytearray]:
        self.send(header, payload)
        return self.recv(timeout)

    def _failed(self, message: str) -> WorkerError:
        self.close()
        return WorkerError(message + self.log_tail())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
        self.proc.wait()
        self._log.thread.join(timeout=5)
        self.channel.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spawn(program: str, args: list[str] | tuple[str, ...] = (), *, code: str | None = None,
          files: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None, gpus: bool = False,
          max_payload: int = DEFAULT_PAYLOAD_CAP) -> Worker:
    """Start ``program`` (Python source, with a global ``channel``) in an isolated worker.

    ``code``: the folder of the agent's code (read-only; ``sys.argv`` tells the program where it
    is: the program adds it to ``sys.path`` itself, after any pristine module). ``files``: more
    read-only files the worker needs (pristine modules of the grader, e.g. a solver), seen at
    the same path. ``env``: extra environment variables. ``gpus``: bind the NVIDIA devices."""
    no_inspection()
    kind = isolation()
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    wenv = dict(os.environ)  # the evaluator's environment is the sandbox's: nothing secret in it
    wenv.update({"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
                 FDS_ENV: f"{req_r},{rep_w}", **(env or {})})
    argv = [sys.executable, "-I", "-c", _BOOT.format(here=_HERE), program, *args]
    kw: dict = {}
    if kind == "bwrap":
        argv = bwrap_argv(argv, code=code, files=list(files), gpus=gpus)
    elif kind == "uid":
        uid = int(os.environ.get(UID_ENV, "65534"))
        kw = {"user": uid, "group": uid, "extra_groups": []}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                close_fds=True, pass_fds=(req_r, rep_w), start_new_session=True, env=wenv,
                                cwd=code or "/", **kw)
    finally:
        os.close(req_r)
        os.close(rep_w)
    print(f"mlgym-worker-isolation: {kind}", file=sys.stderr, flush=True)
    return Worker(proc, Channel(rep_r, req_w, max_payload), kind)
