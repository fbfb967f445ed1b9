"""``mlgym bench``: many episodes (tasks x agents x models x runs) with a ledger, resume and executors.

Importing this package is cheap: executors, rich and ray load when a bench runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BenchConfig", "Ledger", "plan_episodes", "run_bench"]


def __getattr__(name: str) -> Any:
    if name in ("BenchConfig", "plan_episodes"):
        from . import plan

        return getattr(plan, name)
    if name == "Ledger":
        from .ledger import Ledger

        return Ledger
    if name == "run_bench":
        from .driver import run_bench

        return run_bench
    raise AttributeError(name)
