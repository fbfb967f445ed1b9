"""The local runtime's sandbox: one persistent bash inside one bwrap (or, without bwrap, unprotected)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ...leftovers import mark_owner
from ...privileges import give_to, sandbox_uids
from ...processes import descendants
from ...sandbox import (
    AGENT_ENV_PASSTHROUGH, AGENT_HOME, SYSTEM_PATH, TOOLS_DIR, WORKSPACE, SandboxConfig, agent_env,
    inside_workspace,
)
from ...shell import PersistentShell, ShellResult
from .bwrap import bwrap_argv
from .envelope import DiskWatch, Envelope

HOST_INSTALL_ENV = ("CUDA_HOME", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Host variables that describe the host's own install, which this sandbox runs (passed through when set)."""


def sandbox_env(extra: dict[str, str], devices: tuple[str, ...], *, home: str = AGENT_HOME) -> dict[str, str]:
    """The environment inside a sandbox: core's :func:`~mlgym_core.sandbox.agent_env` with the host's
    Python first on PATH, the variables of the host's install, and the episode's GPUs."""
    gpus = ",".join(d for d in devices if not d.startswith("cpu"))
    return agent_env({"CUDA_VISIBLE_DEVICES": gpus, **extra},
                     path=(os.path.join(sys.prefix, "bin"), *SYSTEM_PATH),
                     passthrough=(*AGENT_ENV_PASSTHROUGH, *HOST_INSTALL_ENV), home=home)


class LocalSandbox:
    """The agent's sandbox on this machine: one persistent bash inside one bwrap.

    Started as root, the sandbox's processes run as the unprivileged ``agent`` uid of
    :func:`sandbox_uids` (owner of the workspace), never as host root."""

    def __init__(self, config: SandboxConfig, bwrap: str | None) -> None:
        self.config = config
        self.workspace_host = config.workspace
        self.isolation = "bwrap" if bwrap else "none"
        uids = sandbox_uids() if bwrap else None
        self.host_uid = uids.agent if uids else os.getuid()
        env = sandbox_env(config.env, config.devices)
        self.envelope = Envelope(pids=config.pids, memory_gb=config.memory_gb, cpus=config.cpus,
                                 isolated=bool(bwrap))
        cg = self.envelope.cgroup
        self.pids_limit = self.envelope.applied.get("pids", "none")
        try:
            for folder in (config.workspace.parent, config.tools_dir):
                if folder is not None:
                    mark_owner(folder)  # found again by `mlgym gc` if this process dies by SIGKILL
            if uids:
                _hand_over(config, uids.agent)
            if bwrap:
                argv = bwrap_argv(bwrap, workspace=config.workspace, ro_binds=config.ro_binds,
                                  read_only=config.read_only, tools_dir=config.tools_dir,
                                  services_dir=config.services_dir, env=env, network=config.network,
                                  hide=config.hide, command=["/bin/bash", "--noprofile", "--norc"],
                                  devices=config.devices, run_as=uids.agent if uids else None,
                                  tmpfs_bytes=self.envelope.memory, seccomp=True)
                self.shell = PersistentShell(self.envelope.wrap(argv, seccomp=True), env={},
                                             output_cap=config.output_cap, init=config.init)
            else:
                _unprotected_layout(config)
                env["HOME"] = str(config.workspace.parent)
                if config.tools_dir is not None:
                    env["PATH"] = env["PATH"].replace(TOOLS_DIR, str(config.tools_dir))
                self.shell = PersistentShell(self.envelope.wrap(["/bin/bash", "--noprofile", "--norc"]), env=env,
                                             cwd=str(config.workspace), output_cap=config.output_cap,
                                             init=config.init.replace(TOOLS_DIR, str(config.tools_dir or TOOLS_DIR)))
        except BaseException:
            self.envelope.close()
            raise
        self._cgroup = cg
        self.over_disk = 0
        """Bytes the workspace held when the disk watch last found it over the cap (0: not over)."""
        self.killed_at = 0
        """Usage at the disk watch's last kill: only growth past it kills again (a clean-up is spared)."""
        if bwrap:
            DiskWatch.add(self)

    @property
    def workspace_path(self) -> str:
        return WORKSPACE if self.isolation == "bwrap" else str(self.config.workspace)

    def run(self, command: str, timeout: float) -> ShellResult:
        return self.finish_run(self.shell.run(command, timeout))

    def finish_run(self, res: ShellResult) -> ShellResult:
        """What :meth:`run` adds to the shell's result (the disk watch's note). A caller that drives
        ``self.shell`` itself (``send``, then ``ready`` or ``result``: the vector env) passes the
        result through this."""
        if self.over_disk:
            res.output += (f"\n[mlgym: the workspace holds {self.over_disk >> 20} MiB, over its cap of "
                           f"{self.envelope.disk >> 20} MiB: the command's processes were killed; "
                           "delete files to go on]\n")
            self.over_disk = 0
        return res

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the sandbox stopped while the block runs (artifact collection), thawed
        after: the cgroup freezer where one is writable, else SIGSTOP of every process of the
        sandbox (repeated until no new one appears) and SIGCONT after."""
        cg = self.envelope.cgroup
        if cg is not None and cg.freeze():
            try:
                yield
            finally:
                cg.thaw()
            return
        stopped = _stop_tree(self.shell.pid) if self.shell.alive() else []
        try:
            yield
        finally:
            for pid in stopped:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)

    def get(self, path: str, dest: Path) -> None:
        """Copy a workspace file or folder out, with the sandbox frozen (nothing can be swapped for a
        link meanwhile); a path that leads outside the workspace through a link is refused, and links
        inside a folder are copied as links."""
        with self.frozen():
            src = self._inside(path)
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dest)

    def put(self, source: Path, path: str) -> None:
        """Copy a host file or folder into the workspace, with the sandbox frozen; every target is
        checked to stay in the workspace (a link the agent left there is replaced, never followed)."""
        with self.frozen():
            dst = self._inside(path)
            files = [(source, dst)] if not source.is_dir() else [
                (Path(r) / n, dst / Path(r).relative_to(source) / n) for r, _, names in os.walk(source) for n in names]
            if source.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            for src, target in files:
                parent = self._inside(str(target.parent))
                parent.mkdir(parents=True, exist_ok=True)
                target = parent / target.name
                if target.is_symlink():
                    target.unlink()
                shutil.copy2(src, target)
            if self.host_uid != os.getuid():
                give_to(dst, self.host_uid)

    def _inside(self, path: str) -> Path:
        return inside_workspace(self.config.workspace, self._host_path(path), path)

    def _host_path(self, path: str) -> Path:
        rel = path.removeprefix(WORKSPACE).removeprefix(str(self.config.workspace)).lstrip("/")
        return self.config.workspace / rel

    def close(self) -> None:
        self.shell.close()
        self.envelope.close()


def _hand_over(config: SandboxConfig, uid: int) -> None:
    """As root: the workspace (but its read-only files) and the services folder to the agent's uid;
    the tools folder (made 0700 by mkdtemp) readable by it."""
    give_to(config.workspace, uid, keep=[config.workspace / rel for rel in config.read_only])
    if config.services_dir is not None:
        give_to(config.services_dir, uid)
    if config.tools_dir is not None:
        config.tools_dir.chmod(0o755)


def _stop_tree(root: int) -> list[int]:
    """SIGSTOP every process below ``root`` until a scan finds no new one; return them all."""
    stopped: list[int] = []
    seen: set[int] = set()
    for _ in range(200):
        new = [p for p in descendants(root) if p not in seen]
        if not new and all(_stopped(p) for p in stopped):
            break
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
            seen.add(pid)
            stopped.append(pid)
        if not new:
            time.sleep(0.001)  # a SIGSTOP is delivered asynchronously
    return stopped


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return True
    return s[s.rfind(b")") + 2:s.rfind(b")") + 3] in (b"T", b"t", b"Z", b"X")


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
