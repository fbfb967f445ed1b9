"""The ``docker`` runtime: one container per episode, one persistent bash in it, graders in fresh containers.

The agent's container: workspace bind-mounted from the host folder core laid out (so core's
grading copies artifacts from the host), an unprivileged uid (started as root: the ``agent`` uid
of :func:`mlgym_core.sandbox_uids`, never a host account's; graders run as the
``grader`` uid), ``--network none``, a read-only root filesystem with sized tmpfs /tmp and
/home/agent, every capability dropped, no-new-privileges, memory (no swap)/CPU/pids limits, a
file-size limit, GPUs through device requests; paused (``docker pause``) while artifacts are
collected. Task package
folders are never mounted, so hidden files cannot be seen. Containers carry labels naming
the owning process; a watcher process removes them when the owner dies, even by SIGKILL,
and :func:`reap` (``mlgym gc``) removes those of dead owners.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgym_core import (
    AGENT_HOME,
    OUTPUT_CAP,
    SERVICES_DIR,
    STDERR_CAP,
    TOOLS_DIR,
    WORKSPACE,
    GradeConfig,
    GradeResult,
    PersistentShell,
    SandboxConfig,
    SandboxError,
    ShellResult,
    ShellTransport,
    Started,
    agent_env,
    disk_cap_bytes,
    give_to,
    inside_workspace,
    keep_tail,
    memory_limit_bytes,
    passwd_files,
    proc_start,
    sandbox_uids,
)

DEFAULT_IMAGE = "mlgym-agent:latest"
LABEL_OWNER = "mlgym.owner_pid"
LABEL_HOST = "mlgym.owner_host"
LABEL_START = "mlgym.owner_start"
LABEL_ROLE = "mlgym.role"

# Kill every descendant of the session's bash (given as argv[1]) inside the container.
_KILLER = r"""
import os, signal, sys
root = int(sys.argv[1]); kids = {}
try:
    os.kill(root, signal.SIGUSR1)  # the shell skips the rest of the timed-out command
except OSError:
    pass
for n in os.listdir('/proc'):
    if n.isdigit():
        try:
            s = open(f'/proc/{n}/stat', 'rb').read()
        except OSError:
            continue
        kids.setdefault(int(s[s.rfind(b')') + 2:].split()[1]), []).append(int(n))
todo, found = [root], []
while todo:
    for c in kids.get(todo.pop(), ()):
        found.append(c); todo.append(c)
me = os.getpid()
for p in found:
    if p != me:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
print(len(found))
"""


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that started a labelled container still runs (on this host)."""
    if labels.get(LABEL_HOST) not in (None, socket.gethostname()):
        return True  # another machine's container: not ours to judge
    try:
        pid = int(labels.get(LABEL_OWNER, ""))
    except ValueError:
        return False
    start = proc_start(pid)
    return bool(start) and start == labels.get(LABEL_START, start)


def client(timeout: int = 60) -> Any:
    """A docker SDK client from the environment (DOCKER_HOST or the default socket)."""
    try:
        import docker
    except ImportError:
        raise SandboxError("the docker runtime needs the docker SDK: pip install docker") from None
    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise SandboxError(f"docker: no engine reachable at {where}: {type(exc).__name__}: {exc}") from None
    return c


def reap(cl: Any = None, *, all_owners: bool = False, owner: int | None = None) -> list[str]:
    """Remove mlgym containers whose owner process is dead (or all of them, or one owner's)."""
    cl = cl or client()
    removed = []
    for c in cl.containers.list(all=True, filters={"label": LABEL_OWNER}):
        labels = c.labels or {}
        if owner is not None:
            if labels.get(LABEL_OWNER) != str(owner) or labels.get(LABEL_HOST) != socket.gethostname():
                continue
        elif not all_owners and owner_alive(labels):
            continue
        try:
            c.remove(force=True)
            removed.append(c.name)
        except Exception:  # already gone (a concurrent reaper)
            pass
    return removed


_watcher: subprocess.Popen[bytes] | None = None
_watcher_pid = 0


def _ensure_watcher() -> None:
    """Start (once per process) a watcher that removes this process's containers when it dies.

    The watcher blocks reading a pipe whose only writer is this process: the read returns
    when this process exits in any way (return, exception, SIGINT, SIGKILL).
    """
    global _watcher, _watcher_pid
    if _watcher is not None and _watcher_pid == os.getpid() and _watcher.poll() is None:
        return
    env = dict(os.environ)
    _watcher = subprocess.Popen([sys.executable, "-m", "mlgym_runtimes.reaper", "--watch", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, env=env, close_fds=True)
    _watcher_pid = os.getpid()
    atexit.register(stop_watcher)


def stop_watcher(timeout: float = 30) -> None:
    """Close the watcher's pipe now (as this process's exit would): it removes this process's
    containers and exits. Called at a normal exit; a test session calls it so that no process of
    its own outlives it."""
    global _watcher
    w, _watcher = _watcher, None
    if w is None or _watcher_pid != os.getpid():
        return
    try:
        w.stdin.close()  # type: ignore[union-attr]
        w.wait(timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        w.kill()


def _labels(cfg_labels: dict[str, str], role: str) -> dict[str, str]:
    pid = os.getpid()
    return {**{str(k): str(v) for k, v in cfg_labels.items()}, LABEL_OWNER: str(pid),
            LABEL_HOST: socket.gethostname(), LABEL_START: proc_start(pid), LABEL_ROLE: role,
            "mlgym.runtime": "docker"}


def _env(extra: dict[str, str]) -> dict[str, str]:
    """Core's sandbox environment; the container has its own Python on its default PATH."""
    return agent_env({"ROOT": AGENT_HOME + "/", **extra})


def _gpu_requests(devices: tuple[str, ...]) -> list[Any]:
    ids = [d for d in devices if d and not d.startswith("cpu")]
    if not ids:
        return []
    import docker.types

    return [docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def _give_to_agent(path: Path, uid: int) -> None:
    """Make a host folder writable by the container's user (chown when we are root)."""
    if os.geteuid() == 0:
        give_to(path, uid)  # never through a link
    else:
        path.chmod(0o777)


def _readable(path: Path) -> None:
    """Let the container's user traverse and read a host folder core created with mkdtemp (0700)."""
    try:
        st = path.stat()
        path.chmod(st.st_mode | 0o055)
    except OSError:
        pass


def _mount(target: str, source: Path, read_only: bool) -> Any:
    import docker.types

    return docker.types.Mount(target=target, source=str(source), type="bind", read_only=read_only)


class DockerTransport(ShellTransport):
    """The persistent shell over ``docker exec -i``; a timeout kills processes inside the container.

    ``docker exec`` forwards only stdin and stdout, so the command text shares stdin with the control
    lines (bash reads a script from a pipe byte by byte, so they can follow each other on one pipe)."""

    start_timeout = 60.0

    def __init__(self, container_id: str, user: str) -> None:
        self.container_id = container_id
        self.user = user

    def argv(self) -> list[str]:
        return ["docker", "exec", "-i", "-u", self.user, "-w", WORKSPACE, self.container_id,
                "bash", "--noprofile", "--norc"]

    def start(self, shell: PersistentShell) -> Started:
        proc = subprocess.Popen(shell.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=shell.env, start_new_session=True, bufsize=0)
        assert proc.stdin is not None
        return Started(proc, os.dup(proc.stdin.fileno()), fd_setup="3<&0")

    def interrupt(self, shell: PersistentShell) -> int:
        """SIGUSR1 to the container's bash and SIGKILL to every process below it, from inside."""
        if not shell.inner_pid:
            return 0
        try:
            out = subprocess.run(["docker", "exec", "-u", self.user, self.container_id, "python3", "-c", _KILLER,
                                  str(shell.inner_pid)], capture_output=True, timeout=30, env=shell.env)
            return int(out.stdout.strip() or 0)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            return 0


class DockerSandbox:
    """One episode's container plus its persistent shell."""

    isolation = "docker"

    def __init__(self, runtime: DockerRuntime, config: SandboxConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.workspace_host: Path | None = config.workspace
        self.container: Any = None
        self.shell: PersistentShell | None = None
        self.envelope = runtime.envelope(config.pids, config.memory_gb, config.cpus)
        uid = runtime.uid
        _give_to_agent(config.workspace, uid)
        mounts = [_mount(WORKSPACE, config.workspace, False)]
        for rel in config.read_only:
            host = config.workspace / rel
            if host.exists():
                mounts.append(_mount(f"{WORKSPACE}/{rel}", host, True))
        for dest, host in config.ro_binds.items():
            mounts.append(_mount(dest, Path(host), True))
        if config.tools_dir is not None:
            _readable(config.tools_dir)
            mounts.append(_mount(TOOLS_DIR, config.tools_dir, True))
        if config.services_dir is not None:
            _give_to_agent(config.services_dir, uid)
            mounts.append(_mount(SERVICES_DIR, config.services_dir, False))
        _ensure_watcher()
        self.container = runtime.create(mounts=mounts, env=_env(config.env), network=config.network,
                                        pids=config.pids, memory_gb=config.memory_gb, cpus=config.cpus,
                                        devices=config.devices, labels=_labels(config.labels, "agent"),
                                        command=["sleep", "infinity"])
        try:
            self.container.start()
            transport = DockerTransport(self.container.id, f"{uid}:{uid}")
            self.shell = PersistentShell(transport.argv(), transport=transport, env=runtime.cli_env,
                                         output_cap=config.output_cap, init=config.init)
        except BaseException:
            self.close()
            raise

    def run(self, command: str, timeout: float) -> ShellResult:
        assert self.shell is not None
        return self.shell.run(command, timeout)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the container paused (cgroup freezer) while the block runs."""
        self.container.pause()
        try:
            yield
        finally:
            self.container.unpause()

    def _host_path(self, path: str) -> Path | None:
        if path == WORKSPACE or path.startswith(WORKSPACE + "/") or not path.startswith("/"):
            return self.config.workspace / path.removeprefix(WORKSPACE).lstrip("/")
        return None

    def get(self, path: str, dest: Path) -> None:
        import shutil

        host = self._host_path(path)
        if host is not None:  # paused, and never through the agent's links out of the workspace
            with self.frozen():
                host = inside_workspace(self.config.workspace, host, path)
                if host.is_dir():
                    shutil.copytree(host, dest, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(host, dest)
            return
        stream, _stat = self.container.get_archive(path)
        buf = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buf) as tar:
            members = tar.getmembers()
            if len(members) == 1 and members[0].isfile():
                f = tar.extractfile(members[0])
                assert f is not None
                Path(dest).write_bytes(f.read())
            else:
                tar.extractall(Path(dest).parent, filter="data")

    def put(self, source: Path, path: str) -> None:
        import shutil

        host = self._host_path(path)
        if host is not None:  # paused, and never through the agent's links out of the workspace
            with self.frozen():
                host = inside_workspace(self.config.workspace, host, path)
                if source.is_dir():
                    if any(p.is_symlink() for p in host.rglob("*")) if host.is_dir() else False:
                        raise SandboxError(f"{path}: holds links; copy into a fresh folder")
                    shutil.copytree(source, host, dirs_exist_ok=True)
                else:
                    inside_workspace(self.config.workspace, host.parent, path).mkdir(parents=True, exist_ok=True)
                    if host.is_symlink():
                        host.unlink()
                    shutil.copy2(source, host)
                _give_to_agent(host, self.runtime.uid)
            return
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(source), arcname=Path(path).name)
        self.container.put_archive(str(Path(path).parent), buf.getvalue())

    def close(self) -> None:
        if self.shell is not None:
            self.shell.kill()
            self.shell = None
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:
                pass
            self.container = None


class DockerEnvelope:
    """What limits the docker runtime applied to an episode (``run.json``'s ``resources``)."""

    def __init__(self, applied: dict[str, str], missing: dict[str, str]) -> None:
        self.applied, self.missing = applied, missing

    def record(self) -> dict[str, dict[str, str]]:
        return {"applied": dict(self.applied), "not_applied": dict(self.missing)}


class DockerRuntime:
    """Sandboxes and graders in Docker containers (``--runtime docker``)."""

    name = "docker"
    isolation = "docker"

    def __init__(self, image: str | None = None) -> None:
        self.image = image or os.environ.get("MLGYM_IMAGE", DEFAULT_IMAGE)
        self.client = client()
        try:
            self.client.images.get(self.image)
        except Exception:
            raise SandboxError(f"docker: image '{self.image}' not found; build it with `mlgym image build` "
                               "(or set MLGYM_IMAGE)") from None
        uids = sandbox_uids()
        self.uid = uids.agent if uids else os.geteuid()
        self.grader_uid = uids.grader if uids else os.geteuid()
        self.cli_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST",
                                                                     "DOCKER_CONFIG", "DOCKER_CERT_PATH",
                                                                     "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT")}
        try:
            reap(self.client)
        except Exception:
            pass

    def create(self, *, mounts: list[Any], env: dict[str, str], network: bool, pids: int,
               memory_gb: float | None, cpus: float | None, devices: tuple[str, ...], labels: dict[str, str],
               command: list[str], read_only: bool = True, uid: int | None = None) -> Any:
        import docker.types

        uid = self.uid if uid is None else uid
        memory, disk = memory_limit_bytes(memory_gb), disk_cap_bytes()
        if sandbox_uids() is not None:  # names for the sandbox uids (whoami, getpwuid)
            passwd, group = passwd_files()
            mounts = [*mounts, _mount("/etc/passwd", passwd, True), _mount("/etc/group", group, True)]
        kw: dict[str, Any] = dict(
            image=self.image, command=command, user=f"{uid}:{uid}", working_dir=WORKSPACE,
            environment=env, mounts=mounts, labels=labels, hostname="mlgym", init=True,
            network_mode="host" if network else "none", read_only=read_only, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=int(pids) if pids and pids > 0 else None,
            tmpfs={"/tmp": f"rw,exec,mode=1777,size={memory}",
                   AGENT_HOME: f"rw,exec,uid={uid},gid={uid},mode=0755,size={memory}"},
            mem_limit=memory, memswap_limit=memory, shm_size=min(memory, 1 << 30),
            ulimits=[docker.types.Ulimit(name="fsize", soft=disk, hard=disk)],
            stdin_open=False, detach=True)
        if cpus:
            kw["nano_cpus"] = int(float(cpus) * 1e9)
        reqs = _gpu_requests(devices)
        if reqs:
            kw["device_requests"] = reqs
        try:
            return self.client.containers.create(**kw)
        except Exception as exc:
            raise SandboxError(f"docker: cannot create a container from '{self.image}': {exc}") from None

    def start(self, config: SandboxConfig) -> DockerSandbox:
        return DockerSandbox(self, config)

    def envelope(self, pids: int, memory_gb: float | None, cpus: float | None) -> DockerEnvelope:
        return DockerEnvelope({
            "user": f"uid {self.uid} (grader {self.grader_uid}), no capabilities, no-new-privileges",
            "pids": f"pids_limit={pids}", "memory": f"mem_limit=memswap_limit={memory_limit_bytes(memory_gb)}",
            **({"cpu": f"nano_cpus={int(float(cpus) * 1e9)}"} if cpus else {}),
            "tmpfs": f"/tmp, /home/agent {memory_limit_bytes(memory_gb) >> 20} MiB", "freezer": "docker pause",
            "file_size": f"ulimit fsize {disk_cap_bytes() >> 20} MiB per file"},
            {"disk_total": "the workspace's total size is not watched in the docker runtime"})

    def grade(self, config: GradeConfig) -> GradeResult:
        """Run the evaluator in a fresh container that sees only the grading folder and grader binds."""
        _give_to_agent(config.folder, self.grader_uid)
        mounts = [_mount(WORKSPACE, config.folder, False)]
        mounts += [_mount(dest, Path(host), True) for dest, host in config.ro_binds.items()]
        _ensure_watcher()
        c = self.create(mounts=mounts, env=_env(config.env), network=False, pids=config.pids,
                        memory_gb=config.memory_gb, cpus=None, devices=config.devices,
                        labels=_labels({}, "grader"), command=["bash", "--noprofile", "--norc", "-c", config.command],
                        uid=self.grader_uid)
        t0 = time.monotonic()
        timed_out = False
        try:
            c.start()
            try:
                rc = int(c.wait(timeout=config.timeout)["StatusCode"])
            except Exception:  # requests' read timeout
                timed_out = True
                c.kill()
                rc = int(c.wait(timeout=30)["StatusCode"])
            # streamed and capped: the host never holds the whole output (the engine's log may)
            out, dropped = keep_tail(c.logs(stdout=True, stderr=False, stream=True), OUTPUT_CAP)
            err, _ = keep_tail(c.logs(stdout=False, stderr=True, stream=True), STDERR_CAP)
        finally:
            try:
                c.remove(force=True)
            except Exception:
                pass
        text = out.decode("utf-8", "replace")
        if dropped:
            text = f"[mlgym: the first {dropped} bytes of the evaluator's output were dropped]\n" + text
        return GradeResult(text, rc, timed_out, time.monotonic() - t0, stderr=err.decode("utf-8", "replace"),
                           dropped=dropped)
