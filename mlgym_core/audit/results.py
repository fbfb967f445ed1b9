"""What an audit finds: a :class:`Check` per line, a :class:`TaskAudit` per task, and the options."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Check:
    """One line of a task's audit."""

    group: str
    """``baseline``, ``do-nothing``, ``cheating`` or ``evaluator``."""
    name: str
    status: str
    """``pass``, ``fail`` or ``skip``."""
    detail: str
    attack_class: str | None = None
    run_dir: str | None = None

    @property
    def label(self) -> str:
        if self.group == "cheating":
            return {"pass": "blocked", "fail": "BROKEN", "skip": "n/a"}[self.status]
        return {"pass": "ok", "fail": "FAIL", "skip": "skip"}[self.status]


@dataclass
class TaskAudit:
    task: str
    qualified: str
    scale: str
    metric: str
    higher_is_better: bool
    note: str = ""
    isolation: str | None = None
    """What the runtime's sandboxes enforced (``bwrap``, ``none``, ...), from the first baseline run."""
    recorded: float | None = None
    measured: list[float] = field(default_factory=list)
    noise_floor: float | None = None
    checks: list[Check] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def verdict(self) -> str:
        if any(c.status == "fail" for c in self.checks):
            return "fail"
        return "pass" if any(c.status == "pass" for c in self.checks) else "skip"

    def add(self, group: str, name: str, status: str, detail: str, **extra: Any) -> Check:
        c = Check(group, name, status, detail, **extra)
        self.checks.append(c)
        return c

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "checks"}
        out["verdict"] = self.verdict
        out["mean"] = statistics.fmean(self.measured) if self.measured else None
        out["checks"] = [{**asdict(c), "label": c.label} for c in self.checks]
        return out


SMOKE_REPEATS = 2
FULL_REPEATS = 3
"""Baseline runs per task when ``--repeats`` is not given: at the smoke scale, and otherwise."""


@dataclass
class AuditOptions:
    scale: str = "smoke"
    runtime: str = "local"
    repeats: int = 0
    """Baseline runs per task; 0: :data:`SMOKE_REPEATS` at the smoke scale, else :data:`FULL_REPEATS`."""
    attacks: tuple[str, ...] = ()
    output: Path = Path("audit-runs")
    jobs: int = 1
    """Tasks audited at once, each in its own process."""

    def __post_init__(self) -> None:
        if not self.repeats:
            self.repeats = SMOKE_REPEATS if self.scale == "smoke" else FULL_REPEATS
