"""Priority metric and direction of each task id.

An installed task spec wins; then what a run recorded in ``run.json``; then the built-in table
of MLGym's task ids, so that MLGym's published runs are reportable without the task packs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    """How one task is scored."""

    id: str
    metric: str
    higher_is_better: bool
    source: str = "builtin"
    """Where the answer came from: ``spec`` (an installed plugin), ``run`` (run.json) or ``builtin``."""


BUILTIN_TASKS: dict[str, tuple[str, bool]] = {
    # MLGym-Bench v0 (reference section 1.1): id -> (priority metric, higher is better)
    "regressionKaggleHousePrice": ("r2", True),
    "3SATTime": ("Time", False),
    "imageClassificationCifar10": ("accuracy", True),
    "imageClassificationFMnist": ("accuracy", True),
    "imageCaptioningCOCO": ("BLEU Score", True),
    "languageModelingFineWeb": ("val_loss", False),
    "naturalLanguageInferenceMNLI": ("validation_accuracy", True),
    "battleOfSexes": ("Score", True),
    "prisonersDilemma": ("Score", True),
    "blotto": ("Score", True),
    "rlBreakoutMinAtar": ("Reward Mean", True),
    "rlMetaMazeMisc": ("Reward Mean", True),
    "rlMountainCarContinuous": ("Reward Mean", True),
    # Extra tasks of the repository (reference section 1.3)
    "titanicSurvival": ("accuracy", True),
    "imageClassificationCifar10L1": ("accuracy", True),
    "regressionKaggleHousePriceL1": ("r2", True),
    "rlMountainCarContinuousReinforce": ("Reward Mean", True),
}


def installed_tasks(warnings: list[str] | None = None) -> dict[str, TaskInfo]:
    """Task specs of installed plugins by id; a failing plugin only costs a warning."""
    try:
        from ..registry import collect

        specs = collect("tasks")
    except Exception as exc:  # a broken plugin must not break the report
        if warnings is not None:
            warnings.append(f"could not read installed task specs: {type(exc).__name__}: {exc}")
        return {}
    out: dict[str, TaskInfo] = {}
    for spec in specs:
        out.setdefault(spec.id, TaskInfo(spec.id, spec.metric, bool(spec.higher_is_better), "spec"))
    return out


def resolve(task_id: str, installed: dict[str, TaskInfo],
            recorded: tuple[str, bool] | None = None) -> TaskInfo | None:
    """TaskInfo for ``task_id``: installed spec, else the run's record, else the built-in table."""
    if task_id in installed:
        return installed[task_id]
    if recorded is not None:
        return TaskInfo(task_id, recorded[0], recorded[1], "run")
    if task_id in BUILTIN_TASKS:
        metric, higher = BUILTIN_TASKS[task_id]
        return TaskInfo(task_id, metric, higher, "builtin")
    return None
