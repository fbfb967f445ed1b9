"""Run records: MLGym's ``<taskId>.traj`` and ``results.json``, plus our ``run.json``.

Every file is written atomically (temporary file + rename), the trajectory after every step,
so a killed run always leaves readable files.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: readers see the old file or the new one, never half of one."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give (0644 with the usual umask), not mkstemp's 0600


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        # a lone surrogate (no UTF-8 for it) is written as \udXXX, which JSON reads back as the same string
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


SECRET_KEY = re.compile(r"key|token|secret|passw|credential|authorization", re.I)
REDACTED = "<redacted>"


def redact_secrets(obj: Any) -> Any:
    """A copy of ``obj`` for files: the string value of every key that names a secret (``api_key``,
    ``*token*``, ``*secret*``, ``*password*``, ...) becomes ``<redacted>``, at any depth. Numbers
    stay (``max_tokens: 512`` is no secret)."""
    if isinstance(obj, dict):
        return {k: REDACTED if isinstance(v, str) and v and isinstance(k, str) and SECRET_KEY.search(k)
                else redact_secrets(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_secrets(x) for x in obj]
    return obj


class TrajectoryWriter:
    """Rewrites a trajectory file after every step without re-encoding all of it each time.

    The ``trajectory`` and ``history`` lists are treated as append-only except for their last
    two items (an agent may still amend the newest message); older items are encoded once and
    their JSON text is reused, so a step costs the encoding of what changed plus one write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._done: dict[str, list[str]] = {"trajectory": [], "history": []}
        self._ids: dict[str, list[int]] = {"trajectory": [], "history": []}

    def _encode_list(self, key: str, items: list[Any]) -> str:
        done, ids = self._done[key], self._ids[key]
        stable = max(0, len(items) - 2)
        # drop cached text whose item is gone or replaced (the list was edited, not appended to)
        keep = 0
        for keep in range(min(len(ids), stable) + 1):
            if keep == min(len(ids), stable) or ids[keep] != id(items[keep]):
                break
        del done[keep:], ids[keep:]
        while len(done) < stable:
            item = items[len(done)]
            done.append(_dumps(item))
            ids.append(id(item))
        return ",\n".join(done + [_dumps(x) for x in items[stable:]])

    def write(self, traj: dict[str, Any]) -> None:
        parts = []
        for key, value in traj.items():
            if key in self._done and isinstance(value, list):
                parts.append(f"{json.dumps(key)}: [\n{self._encode_list(key, value)}\n]")
            else:
                parts.append(f"{json.dumps(key)}: {_dumps(value)}")
        write_text_atomic(self.path, "{\n" + ",\n".join(parts) + "\n}\n")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def read_json(path: Path) -> Any:
    from .errors import MlgymError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlgymError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MlgymError(f"{path}: not valid JSON ({exc})") from None


def new_trajectory() -> dict[str, Any]:
    return {"environment": "mlgym_main", "trajectory": [], "history": [],
            "info": {"model_stats": {"total_cost": 0.0, "task_cost": 0.0, "tokens_sent": 0,
                                     "tokens_received": 0, "api_calls": 0},
                     "exit_status": "", "submission": None, "score": [], "summarizer": {}}}


def load_actions(path: Path) -> list[dict[str, Any]]:
    """The steps of a trajectory file (ours or MLGym's), each with at least an ``action``."""
    from .errors import MlgymError

    data = read_json(path)
    steps = data.get("trajectory") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        raise MlgymError(f"{path}: not a trajectory file (no 'trajectory' list)")
    for i, st in enumerate(steps):
        if not isinstance(st, dict) or not isinstance(st.get("action"), str):
            raise MlgymError(f"{path}: step {i} has no 'action' string")
    return steps


# -- scores ------------------------------------------------------------------------------------

def _finite(value: Any) -> float | None:
    """``value`` as a float when it is a real number (not a bool, not NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def metric_values(scores: Iterable[Any], metric: str) -> list[float]:
    """The values of ``metric`` in a list of score dicts, in order (entries without it skipped)."""
    out = []
    for entry in scores:
        if isinstance(entry, dict):
            v = _finite(entry.get(metric))
            if v is not None:
                out.append(v)
    return out


def best_of(values: Iterable[Any], higher_is_better: bool) -> float | None:
    """The best of ``values`` under a metric's direction; None, NaN and non-numbers are skipped;
    None when nothing is left. The one definition of "best score" (env, ``mlgym run``, the report)."""
    vals = [v for v in (_finite(x) for x in values) if v is not None]
    if not vals:
        return None
    return max(vals) if higher_is_better else min(vals)


# -- exit statuses -----------------------------------------------------------------------------

UNKNOWN_ERROR = "unknown_error"
"""The constant of :func:`mlgym_core.exits.unknown_error` statuses (the run crashed), once split."""
_EVALUATOR_EXC = re.compile(r"^(\w+), (.*), \((\w+)\)$", re.DOTALL)
_UNKNOWN_ERROR = re.compile(r"^unknown_error \((\w+): ?(.*)\)$", re.DOTALL)
_STATUS_WORDS = ("autosubmission", "submission_not_found", "evaluation_format_error", "unknown_error")


def split_status(status: str | None) -> tuple[str, str | None]:
    """An exit status as (constant, one-line error text or None).

    MLGym's statuses (:mod:`mlgym_core.exits`) are constants already and come back as they are. Two
    carry error text, which is taken out: an evaluator's exception ``<Class>, <message>, (<action>)``
    becomes ``<Class> (<action>)`` and ``unknown_error (<Class>: <message>)`` becomes
    ``unknown_error``; the text comes back as ``<Class>: <message>`` (first line).
    """
    if not status:
        return status or "", None
    m = _EVALUATOR_EXC.match(status)
    if m:
        return f"{m.group(1)} ({m.group(3)})", _one_line(f"{m.group(1)}: {m.group(2)}")
    m = _UNKNOWN_ERROR.match(status)
    if m:
        return UNKNOWN_ERROR, _one_line(f"{m.group(1)}: {m.group(2)}")
    return status, None


def evaluator_failed(status: str) -> str | None:
    """The exception class of a split evaluator-failure status (``<Class> (<action>)``), else None."""
    m = re.match(r"^(\w+) \((\w+)\)$", status)
    return m.group(1) if m and m.group(1) not in _STATUS_WORDS else None


def _one_line(text: str, limit: int = 500) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


# -- run.json ----------------------------------------------------------------------------------

RUN_SCHEMA = "mlgym-run/2"
"""Schema of the run.json ``mlgym run`` writes. Readers accept ``mlgym-run/1`` too (see RunRecord)."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer writer's fields survive a read and a write


class TaskRef(_Part):
    """The task a run was of, as its spec said when the run started."""

    id: str
    qualified_id: str | None = None
    version: int | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    metric: str | None = None
    higher_is_better: bool = True


class ModelStats(_Part):
    """Model usage, as MLGym's ``model_stats`` (None: not recorded)."""

    total_cost: float | None = None
    task_cost: float | None = None
    tokens_sent: int | None = None
    tokens_received: int | None = None
    api_calls: int | None = None


class Timings(_Part):
    started: str | None = None
    ended: str | None = None
    """None while the episode runs."""
    wall_s: float | None = None
    reset_s: float | None = None


class ModelCall(_Part):
    """One model call: the step it chose (the index of the next step) and what it cost."""

    step: int
    tokens_sent: int = 0
    tokens_received: int = 0
    cost: float = 0.0


class RunRecord(_Part):
    """``run.json``: what one ``mlgym run`` was and how it ended. Written by :func:`mlgym_core.run.run_episode`;
    read by the report, ``bench``, ``view`` and ``export`` through :meth:`read`.

    New records carry resolved values: ``scale`` is the scale that ran (never ``default``),
    ``baseline`` that scale's baseline, ``max_steps``, ``short_timeout`` and ``training_timeout``
    those the environment used. ``exit_status`` is a constant (:func:`split_status`) and ``error``
    the one-line error of a run that crashed; an evaluator's exception message is in ``exit_reason``.

    Older records load too (the rule): a field a record lacks takes its default here (None, empty,
    ``""``); a ``mlgym-run/1`` record's status with error text in it is split as above (its
    ``scale`` may still say ``default``: readers that know the task resolve it with
    ``TaskSpec.resolve_scale``); unknown fields are kept. A field of the wrong type makes the
    record unreadable: :meth:`read` raises an MlgymError naming the file and the field.
    """

    record_schema: str = Field(RUN_SCHEMA, alias="schema")
    run_name: str | None = None
    method: str | None = None
    """The label the report compares: the agent, or ``<agent>:<model>``."""
    task: TaskRef | None = None
    agent: str | None = None
    model: str | None = None
    runtime: str | None = None
    isolation: str | None = None
    seed: int | None = None
    scale: str | None = None
    max_steps: int | None = None
    short_timeout: float | None = None
    training_timeout: float | None = None
    exit_status: str = ""
    """``""`` while the episode runs (or when it never started)."""
    error: str | None = None
    """The run crashed outside the agent's control: ``<Class>: <message>``, one line."""
    exit_reason: str | None = None
    scores: list[dict[str, Any]] = Field(default_factory=list)
    baseline: dict[str, Any] = Field(default_factory=dict)
    best_score: float | None = None
    last_score: float | None = None
    steps: int | None = None
    timings: Timings = Field(default_factory=Timings)
    cost: ModelStats = Field(default_factory=ModelStats)
    versions: dict[str, Any] = Field(default_factory=dict)
    spec: dict[str, Any] = Field(default_factory=dict)
    """The RunSpec as given, secrets redacted."""
    warnings: list[str] = Field(default_factory=list)
    resources: dict[str, Any] | None = None
    model_calls: list[ModelCall] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """What the agent noted for the record during the episode."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("exit_status"), str):
            status, text = split_status(data["exit_status"])
            if text is not None:
                data = dict(data, exit_status=status)
                key = "error" if status == UNKNOWN_ERROR else "exit_reason"
                data.setdefault(key, None)
                data[key] = data[key] or text
        return data

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """Read ``path`` (a run.json); an MlgymError naming the file (and field) when it cannot be used."""
        from .errors import MlgymError

        return cls.parse(read_json(path), path, MlgymError)

    @classmethod
    def parse(cls, data: Any, where: Any, error: type[Exception] = ValueError) -> RunRecord:
        """``data`` (run.json's object) as a RunRecord; ``error`` naming ``where`` and the field otherwise."""
        if not isinstance(data, dict):
            raise error(f"{where}: expected a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "record"
            raise error(f"{where}: field '{field}': {first['msg']}") from None

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / "run.json", self.to_json())

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def infra_failure(self) -> str | None:
        """None when the episode ran (whatever the agent's exit status); else one line saying what failed.

        Infrastructure failures: the runtime (the sandbox failed or the run crashed outside the agent's
        control), an unusable model endpoint (``exit_api``), and an evaluator that crashed for a reason
        other than the agent's artefacts (not ``submission_not_found``, ``evaluation_format_error`` or
        an evaluation timeout).
        """
        status, reason = self.exit_status, self.exit_reason or ""
        if status == "exit_api" or "(exit_api)" in status:
            return f"the model endpoint was unusable: {reason or status}"
        if self.error:
            return f"the run crashed: {self.error}"
        if status.startswith(("unknown_error", "early_exit")):
            return f"the runtime failed: {reason or status}"
        failed = evaluator_failed(status)
        if failed and failed != "EvaluationTimeoutError":
            return f"the evaluator failed: {status}" + (f" ({reason})" if reason else "")
        if not status:
            return "the episode did not start"
        return None
