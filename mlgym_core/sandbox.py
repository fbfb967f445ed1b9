"""What every runtime receives and returns: sandbox and grading configurations."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import SandboxError
from .shell import ShellResult

AGENT_HOME = "/home/agent"
WORKSPACE = "/home/agent/workspace"
TOOLS_DIR = "/home/agent/commands"
SERVICES_DIR = "/home/agent/.mlgym"
GRADER_DIR = "/home/agent/grader"
"""Where the grading sandbox mounts the pristine evaluator, read-only, apart from the artifacts."""
SANDBOX_UID = 1000
"""The agent's uid inside the sandbox's user namespace (mlgym started by an ordinary user)."""


AGENT_ENV_PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS")
"""Host variables every runtime passes into the sandbox when set (locale, time zone, thread count)."""
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
"""Where a sandbox's system keeps its programs: ``PATH`` after the tools' folder (and a runtime's own)."""


def agent_env(extra: Mapping[str, str], *, path: Sequence[str] = SYSTEM_PATH,
              passthrough: Sequence[str] = AGENT_ENV_PASSTHROUGH, home: str = AGENT_HOME) -> dict[str, str]:
    """The environment a sandbox's shell starts with, in every runtime: no API key, token or other host
    variable but the ``passthrough`` ones; the tools' folder first on ``PATH``, then ``path``; ``extra``
    (the runtime's, the task's and the tools' variables) last."""
    env = {"HOME": home, "USER": "agent", "LOGNAME": "agent", "SHELL": "/bin/bash", "TERM": "dumb",
           "PATH": ":".join((TOOLS_DIR, *path)), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PIP_NO_INPUT": "1", "MPLBACKEND": "Agg", "PAGER": "cat", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    env.update({k: os.environ[k] for k in passthrough if k in os.environ})
    env.update(extra)
    return env


def inside_workspace(workspace: Path, host: Path, shown: str) -> Path:
    """``host`` (a path in the host folder ``workspace``) with every link resolved; a SandboxError
    naming ``shown`` when it leads outside. Only reliable while the sandbox is frozen."""
    root = os.path.realpath(workspace)
    real = os.path.realpath(host)
    if real != root and not real.startswith(root + "/"):
        raise SandboxError(f"{shown}: leads outside the workspace (through a link)")
    return Path(real)


@dataclass
class SandboxConfig:
    """Everything a runtime needs to start the agent's sandbox for one episode."""

    workspace: Path
    """Host folder holding the workspace files (already laid out by core)."""
    ro_binds: dict[str, Path] = field(default_factory=dict)
    """Sandbox path -> host path, bound read-only (e.g. ``data/`` from the dataset cache)."""
    read_only: tuple[str, ...] = ()
    """Workspace-relative paths protected against change (evaluate.py, ...)."""
    tools_dir: Path | None = None
    """Host folder mounted read-only at /home/agent/commands."""
    services_dir: Path | None = None
    """Host folder with host-side service sockets, mounted at /home/agent/.mlgym."""
    env: dict[str, str] = field(default_factory=dict)
    init: str = ""
    """Bash run once in the fresh shell (PATH, sourcing tool scripts)."""
    network: bool = False
    pids: int = 1024
    memory_gb: float | None = None
    cpus: float | None = None
    devices: tuple[str, ...] = ()
    output_cap: int = 100_000
    hide: tuple[Path, ...] = ()
    """Host folders that must not be visible even where a parent is bound (task packages)."""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class GradeConfig:
    """A grading run: the pristine evaluator in a fresh folder, artifacts copied in read-only."""

    folder: Path
    command: str
    timeout: float
    env: dict[str, str] = field(default_factory=dict)
    ro_binds: dict[str, Path] = field(default_factory=dict)
    devices: tuple[str, ...] = ()
    pids: int = 1024
    memory_gb: float | None = None
    hide: tuple[Path, ...] = ()


@dataclass
class GradeResult:
    output: str
    """The evaluator's standard output (its last ``OUTPUT_CAP`` bytes; the rest is drained and dropped)."""
    returncode: int
    timed_out: bool = False
    seconds: float = 0.0
    stderr: str = ""
    """The end of the evaluator's standard error (error messages for the agent)."""
    dropped: int = 0
    """Bytes of standard output dropped by the cap."""


class Sandbox(Protocol):
    """One live sandbox: a persistent shell plus file transfer."""

    isolation: str
    workspace_host: Path | None

    def run(self, command: str, timeout: float) -> ShellResult: ...

    def get(self, path: str, dest: Path) -> None: ...

    def put(self, source: Path, path: str) -> None: ...

    def frozen(self) -> AbstractContextManager[object]:
        """Every process of the sandbox stopped while the block runs, resumed after (artifact
        collection: a background job cannot swap files while they are copied)."""
        ...

    def close(self) -> None: ...


class Runtime(Protocol):
    """A kind of place to run sandboxes and graders (local, docker, ...)."""

    name: str

    def start(self, config: SandboxConfig) -> Sandbox: ...

    def grade(self, config: GradeConfig) -> GradeResult: ...
