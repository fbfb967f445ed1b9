"""``mlgym report``: read run directories, compute MLGym's metrics, print tables, plots and HTML.

Importing this package is cheap; numpy and matplotlib load only when a report is computed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ScoreTable", "build", "load_runs", "report_object"]


def __getattr__(name: str) -> Any:
    if name in ("ScoreTable", "build", "report_object"):
        from . import build as _build

        return getattr(_build, name) if name != "build" else _build.build
    if name == "load_runs":
        from .loader import load_runs

        return load_runs
    raise AttributeError(name)
