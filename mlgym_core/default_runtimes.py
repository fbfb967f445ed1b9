"""Built-in plugin: the ``local`` runtime (a workspace on this machine, isolated with bubblewrap)."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from .hookspecs import hookimpl
from .sandbox import (
    AGENT_HOME,
    SERVICES_DIR,
    TOOLS_DIR,
    WORKSPACE,
    GradeConfig,
    GradeResult,
    SandboxConfig,
)
from .shell import PersistentShell, ShellResult
from .specs import RuntimeSpec

ETC_ALLOW = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "ssl", "ca-certificates", "mime.types", "magic", "magic.mime", "fonts", "os-release",
             "debian_version", "protocols", "services", "inputrc", "timezone")
SANDBOX_UID = 1000
SAFE_ENV = ("LANG", "LC_ALL", "TZ", "CUDA_HOME", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            "OMP_NUM_THREADS")


@hookimpl
def register_runtimes() -> list[RuntimeSpec]:
    return [RuntimeSpec(name="local", description="This machine; bubblewrap sandbox (no network, read-only "
                        "system, only the workspace writable) when bwrap is installed", factory=LocalRuntime)]


def bwrap_path() -> str | None:
    path = os.environ.get("MLGYM_BWRAP", shutil.which("bwrap") or "")
    if not path or os.environ.get("MLGYM_ISOLATION") == "none":
        return None
    return path


@functools.cache
def _python_roots() -> tuple[str, ...]:
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.base_prefix, sys.prefix}
    return tuple(sorted(r for r in roots if not r.startswith(("/usr", "/bin", "/lib"))))


@functools.cache
def _etc_dir() -> Path:
    """A private /etc for sandboxes, built once: the allowed entries of the host's /etc (copied,
    symlinks kept) plus a passwd and group naming the sandbox user ``agent``. One bind mount
    instead of one per entry keeps sandbox start fast."""
    import hashlib

    stamp = hashlib.sha1(repr([(n, _mtime(Path("/etc") / n)) for n in ETC_ALLOW]).encode()).hexdigest()[:10]
    d = Path(tempfile.gettempdir()) / f"mlgym-etc-{os.getuid()}-{stamp}"
    if (d / "group").exists():
        return d
    tmp = Path(tempfile.mkdtemp(prefix=d.name + ".", dir=d.parent))
    tmp.chmod(0o755)
    for name in ETC_ALLOW:
        src = Path("/etc") / name
        try:
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, tmp / name, symlinks=True)
            elif src.exists() or src.is_symlink():
                shutil.copy2(src, tmp / name, follow_symlinks=False)
        except OSError:
            continue
    (tmp / "passwd").write_text(f"root:x:0:0::/root:/bin/false\nagent:x:{SANDBOX_UID}:{SANDBOX_UID}::"
                                f"{AGENT_HOME}:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n")
    (tmp / "group").write_text(f"root:x:0:\nmlgym:x:{SANDBOX_UID}:agent\nnogroup:x:65534:\n")
    try:
        tmp.rename(d)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return d


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def bwrap_argv(bwrap: str, *, workspace: Path, ro_binds: dict[str, Path], read_only: tuple[str, ...],
               tools_dir: Path | None, services_dir: Path | None, env: dict[str, str], network: bool,
               hide: tuple[Path, ...], command: list[str], devices: tuple[str, ...] = ()) -> list[str]:
    """The bubblewrap command line of a sandbox whose workspace is ``workspace``.

    ``devices``: GPU ids assigned to the episode; their NVIDIA device nodes (and the driver's
    control nodes) are bound in, and CUDA_VISIBLE_DEVICES in ``env`` names them."""
    a = [bwrap, "--die-with-parent", "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
         "--hostname", "mlgym", "--cap-drop", "ALL"]
    if network:
        a.append("--share-net")
    for top in ("usr", "bin", "lib", "lib32", "lib64", "sbin", "opt"):
        p = Path("/" + top)
        if p.is_symlink():
            a += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            a += ["--ro-bind", str(p), str(p)]
    a += ["--ro-bind", str(_etc_dir()), "/etc"]
    for root in _python_roots():
        a += ["--ro-bind", root, root]
    a += ["--proc", "/proc", "--dev", "/dev"]
    gpus = [d for d in devices if d.isdigit()]
    if gpus:
        for node in [f"nvidia{d}" for d in gpus] + ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"]:
            a += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
    a += ["--tmpfs", "/tmp", "--tmpfs", "/home", "--tmpfs", "/run",
          "--dir", AGENT_HOME, "--bind", str(workspace), WORKSPACE]
    for rel in read_only:
        host = workspace / rel
        if host.exists():
            a += ["--ro-bind", str(host), f"{WORKSPACE}/{rel}"]
    for dest, host in ro_binds.items():
        a += ["--ro-bind", str(host), dest]
    if tools_dir is not None:
        a += ["--ro-bind", str(tools_dir), TOOLS_DIR]
    if services_dir is not None:
        a += ["--bind", str(services_dir), SERVICES_DIR]
    for h in hide:
        if h.is_dir() and any(str(h).startswith(r + "/") for r in _python_roots()):
            a += ["--tmpfs", str(h)]
    a += ["--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv"]
    for k, v in env.items():
        a += ["--setenv", k, v]
    return a + ["--"] + command


def sandbox_env(extra: dict[str, str], devices: tuple[str, ...], *, home: str = AGENT_HOME) -> dict[str, str]:
    """The environment inside a sandbox: no API keys or tokens, only what is listed here."""
    py_bin = os.path.join(sys.prefix, "bin")
    env = {"HOME": home, "USER": "agent", "LOGNAME": "agent", "SHELL": "/bin/bash", "TERM": "dumb",
           "PATH": f"{TOOLS_DIR}:{py_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INPUT": "1", "MPLBACKEND": "Agg", "PAGER": "cat",
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    for k in SAFE_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    env["CUDA_VISIBLE_DEVICES"] = ",".join(d for d in devices if not d.startswith("cpu"))
    env.update(extra)
    return env


class _PidsCgroup:
    """A cgroup-v1 pids controller group, where this machine lets us make one (fork-bomb guard)."""

    ROOT = Path("/sys/fs/cgroup/pids")

    def __init__(self, limit: int) -> None:
        self.path: Path | None = None
        if not os.access(self.ROOT, os.W_OK) or limit <= 0:
            return
        p = self.ROOT / f"mlgym-{uuid.uuid4().hex[:12]}"
        try:
            p.mkdir()
            (p / "pids.max").write_text(str(limit))
            self.path = p
        except OSError:
            self.path = None

    def wrap(self, argv: list[str]) -> list[str]:
        """Join the group before exec-ing ``argv``, so every descendant is counted (a tiny sh,
        which lets Python spawn with vfork instead of a slow fork with preexec_fn)."""
        assert self.path is not None
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def close(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except OSError:
                try:
                    for pid in (self.path / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                time.sleep(0.02)
        self.path = None


class LocalSandbox:
    """The agent's sandbox on this machine: one persistent bash inside one bwrap."""

    def __init__(self, config: SandboxConfig, bwrap: str | None) -> None:
        self.config = config
        self.workspace_host = config.workspace
        self.isolation = "bwrap" if bwrap else "none"
        self.pids_limit = "none"
        env = sandbox_env(config.env, config.devices)
        self._cgroup = _PidsCgroup(config.pids) if bwrap else None
        if bwrap:
            argv = bwrap_argv(bwrap, workspace=config.workspace, ro_binds=config.ro_binds,
                              read_only=config.read_only, tools_dir=config.tools_dir,
                              services_dir=config.services_dir, env=env, network=config.network,
                              hide=config.hide, command=["/bin/bash", "--noprofile", "--norc"],
                              devices=config.devices)
            if self._cgroup and self._cgroup.path:
                argv = self._cgroup.wrap(argv)
                self.pids_limit = f"cgroup pids.max={config.pids}"
            self.shell = PersistentShell(argv, env={}, output_cap=config.output_cap, init=config.init)
        else:
            _unprotected_layout(config)
            env["HOME"] = str(config.workspace.parent)
            if config.tools_dir is not None:
                env["PATH"] = env["PATH"].replace(TOOLS_DIR, str(config.tools_dir))
            self.shell = PersistentShell(["/bin/bash", "--noprofile", "--norc"], env=env, cwd=str(config.workspace),
                                         output_cap=config.output_cap,
                                         init=config.init.replace(TOOLS_DIR, str(config.tools_dir or TOOLS_DIR)))

    @property
    def workspace_path(self) -> str:
        return WORKSPACE if self.isolation == "bwrap" else str(self.config.workspace)

    def run(self, command: str, timeout: float) -> ShellResult:
        return self.shell.run(command, timeout)

    def get(self, path: str, dest: Path) -> None:
        src = self._host_path(path)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)

    def put(self, source: Path, path: str) -> None:
        dst = self._host_path(path)
        if source.is_dir():
            shutil.copytree(source, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst)

    def _host_path(self, path: str) -> Path:
        rel = path.removeprefix(WORKSPACE).removeprefix(str(self.config.workspace)).lstrip("/")
        return self.config.workspace / rel

    def close(self) -> None:
        self.shell.close()
        if self._cgroup is not None:
            self._cgroup.close()


def _unprotected_layout(config: SandboxConfig) -> None:
    """Without bwrap: copy read-only binds into the workspace and drop write bits (best effort)."""
    for dest, host in config.ro_binds.items():
        if dest.startswith(WORKSPACE + "/"):
            target = config.workspace / dest[len(WORKSPACE) + 1:]
            if not target.exists():
                if host.is_dir():
                    shutil.copytree(host, target)
                else:
                    shutil.copy2(host, target)
            _chmod_ro(target)
    for rel in config.read_only:
        _chmod_ro(config.workspace / rel)


def _chmod_ro(p: Path) -> None:
    if not p.exists():
        return
    paths = [p] + (list(p.rglob("*")) if p.is_dir() else [])
    for q in paths:
        q.chmod(0o555 if q.is_dir() else 0o444)


class LocalRuntime:
    """Runs sandboxes and graders on this machine, under bubblewrap when it is installed."""

    name = "local"
    prestart = True  # start() may run in a background thread (MLGymEnv prestarts the next sandbox)

    def __init__(self, isolation: str = "auto") -> None:
        self.bwrap = None if isolation == "none" else bwrap_path()
        if isolation == "bwrap" and self.bwrap is None:
            from .errors import SandboxError

            raise SandboxError("isolation 'bwrap' was asked for but bwrap is not installed "
                               "(apt-get install bubblewrap)")
        if self.bwrap is None:
            warnings.warn("bubblewrap (bwrap) is not installed: the local runtime runs commands WITHOUT "
                          "isolation (isolation: none); apt-get install bubblewrap", stacklevel=2)
        self.isolation = "bwrap" if self.bwrap else "none"

    def start(self, config: SandboxConfig) -> LocalSandbox:
        return LocalSandbox(config, self.bwrap)

    def grade(self, config: GradeConfig) -> GradeResult:
        env = sandbox_env(config.env, config.devices)
        if self.bwrap:
            argv = bwrap_argv(self.bwrap, workspace=config.folder, ro_binds=config.ro_binds, read_only=(),
                              tools_dir=None, services_dir=None, env=env, network=False, hide=config.hide,
                              command=["/bin/bash", "--noprofile", "--norc", "-c", config.command],
                              devices=config.devices)
            cwd = None
            cg = _PidsCgroup(config.pids)
            if cg.path:
                argv = cg.wrap(argv)
        else:
            env["HOME"] = str(config.folder)
            command = config.command
            for dest, host in sorted(config.ro_binds.items(), key=lambda kv: -len(kv[0])):
                if dest.startswith(WORKSPACE + "/"):
                    link = config.folder / dest[len(WORKSPACE) + 1:]
                    if not link.exists():
                        link.symlink_to(host)
                else:
                    command = command.replace(dest, str(host))
            argv = ["/bin/bash", "--noprofile", "--norc", "-c", command.replace(WORKSPACE, str(config.folder))]
            cwd = str(config.folder)
            cg = None
        from .grading import run_capped

        try:
            return run_capped(argv, env=env if not self.bwrap else {}, cwd=cwd, timeout=config.timeout)
        finally:
            if cg is not None:
                cg.close()
