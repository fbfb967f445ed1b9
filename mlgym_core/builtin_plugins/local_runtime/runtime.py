"""The ``local`` runtime: sandboxes and graders on this machine, isolated with bubblewrap."""

from __future__ import annotations

import os
import warnings

from ...errors import SandboxError
from ...grading import run_capped
from ...leftovers import mark_owner
from ...privileges import give_to, sandbox_uids
from ...sandbox import WORKSPACE, GradeConfig, GradeResult, SandboxConfig
from .bwrap import bwrap_argv, bwrap_path
from .envelope import Envelope
from .sandbox import LocalSandbox, sandbox_env


class LocalRuntime:
    """Runs sandboxes and graders on this machine, under bubblewrap when it is installed."""

    name = "local"
    prestart = True  # start() may run in a background thread (MLGymEnv prestarts the next sandbox)

    def __init__(self, isolation: str = "auto") -> None:
        self.bwrap = None if isolation == "none" else bwrap_path()
        if isolation == "bwrap" and self.bwrap is None:
            raise SandboxError("isolation 'bwrap' was asked for but bwrap is not installed "
                               "(apt-get install bubblewrap)")
        if self.bwrap is None:
            warnings.warn("bubblewrap (bwrap) is not installed: the local runtime runs commands WITHOUT "
                          "isolation (isolation: none); apt-get install bubblewrap", stacklevel=2)
        self.isolation = "bwrap" if self.bwrap else "none"

    def start(self, config: SandboxConfig) -> LocalSandbox:
        return LocalSandbox(config, self.bwrap)

    @staticmethod
    def promises() -> str:
        """What this machine lets the local runtime keep, for ``mlgym list runtimes``."""
        if bwrap_path() is None:
            return "NO isolation here: bwrap is not installed"
        uids = sandbox_uids()
        who = (f"agent uid {uids.agent}, grader uid {uids.grader}" if uids
               else f"as uid {os.getuid()} in a user namespace")
        probe = Envelope(pids=64, memory_gb=0.1, cpus=1, isolated=True)
        probe.close()
        return (f"{who}; enforced: {', '.join(probe.applied)}; not enforced here: "
                f"{', '.join(probe.missing) or 'nothing'}")

    def grade(self, config: GradeConfig) -> GradeResult:
        """Run the evaluator in a fresh sandbox; as root, under the ``grader`` uid (owner of the
        grading folder), within the task's memory, pids and file-size envelope."""
        env = sandbox_env(config.env, config.devices)
        mark_owner(config.folder.parent)
        envelope = Envelope(pids=config.pids, memory_gb=config.memory_gb, cpus=None, isolated=bool(self.bwrap),
                            freezer=False)
        if self.bwrap:
            uids = sandbox_uids()
            if uids:
                give_to(config.folder, uids.grader)
            argv = bwrap_argv(self.bwrap, workspace=config.folder, ro_binds=config.ro_binds, read_only=(),
                              tools_dir=None, services_dir=None, env=env, network=False, hide=config.hide,
                              command=["/bin/bash", "--noprofile", "--norc", "-c", config.command],
                              devices=config.devices, run_as=uids.grader if uids else None,
                              tmpfs_bytes=envelope.memory, nestable=True, seccomp=True)
            cwd = None
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
        argv = envelope.wrap(argv, seccomp=bool(self.bwrap))
        try:
            return run_capped(argv, env=env if not self.bwrap else {}, cwd=cwd, timeout=config.timeout)
        finally:
            envelope.close()
