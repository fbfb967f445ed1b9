"""The built-in ``local`` runtime: a workspace on this machine, isolated with bubblewrap.

Rooms: :mod:`.bwrap` (the bwrap command line: binds, masks, namespaces), :mod:`.envelope` (cgroups,
file-size cap, seccomp, the disk watch), :mod:`.sandbox` (the agent's persistent shell in it) and
:mod:`.runtime` (the runtime: starts sandboxes, runs graders). Shared with other runtimes, in core:
:mod:`mlgym_core.etc_files` (the synthesised /etc), :mod:`mlgym_core.limits` (memory and disk numbers).
"""

from .bwrap import bwrap_argv, bwrap_path
from .envelope import Envelope
from .runtime import LocalRuntime
from .sandbox import LocalSandbox, sandbox_env

__all__ = ["Envelope", "LocalRuntime", "LocalSandbox", "bwrap_argv", "bwrap_path", "sandbox_env"]
