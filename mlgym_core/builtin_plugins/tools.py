"""Built-in plugin: the ``validate`` and ``submit`` commands present in every sandbox."""

from __future__ import annotations

from importlib.resources import files

from ..hookspecs import hookimpl
from ..specs import ToolSpec

_SRC = files("mlgym_core") / "data" / "core_tools.sh"


@hookimpl
def register_tools() -> list[ToolSpec]:
    return [
        ToolSpec(name="validate", signature="validate", group="core", source=_SRC,
                 docstring="validates your current submission file and returns the metrics on the test set"),
        ToolSpec(name="submit", signature="submit", group="core", source=_SRC,
                 docstring="submits your current code and terminates the session"),
    ]
