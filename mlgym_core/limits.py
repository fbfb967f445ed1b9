"""The numbers every runtime's envelope uses: an episode's memory limit and the workspace disk cap."""

from __future__ import annotations

import os

from .errors import SandboxError

DISK_ENV = "MLGYM_WORKSPACE_GB"
DEFAULT_DISK_GB = 4.0
MEMORY_ENV = "MLGYM_MEMORY_GB"


def memory_limit_bytes(declared_gb: float | None) -> int:
    """The memory limit of an episode: the task's ``memory_gb``, else ``MLGYM_MEMORY_GB``, else half
    of this machine's memory (never more than the machine has)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gb = declared_gb or env_number(MEMORY_ENV, 0.0)
    return min(int(gb * 2 ** 30), total) if gb else total // 2


def env_number(name: str, default: float, unit: str = "GiB") -> float:
    """The positive number in environment variable ``name`` (``default`` when unset or empty)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SandboxError(f"environment variable {name}={raw!r}: expected a positive number of {unit}")
    return value


def disk_cap_bytes() -> int:
    """The workspace disk cap: the largest file the sandbox may write (``MLGYM_WORKSPACE_GB``, default 4)."""
    return int(env_number(DISK_ENV, DEFAULT_DISK_GB) * 2 ** 30)
