"""Built-in plugin: the ``local`` runtime (a workspace on this machine, isolated with bubblewrap)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..specs import RuntimeSpec
from .local_runtime import LocalRuntime


@hookimpl
def register_runtimes() -> list[RuntimeSpec]:
    return [RuntimeSpec(name="local", description="This machine; bubblewrap sandbox (no network, read-only "
                        "system, only the workspace writable) when bwrap is installed", factory=LocalRuntime)]
