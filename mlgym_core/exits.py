"""Exit statuses of an episode, built in one place with MLGym's exact strings (reference 4.5).

An episode's ``exit_status`` is one of:

- ``submitted``: the agent called ``submit`` and the evaluation succeeded;
- ``autosubmission (<reason>)``: the episode was forced to end (``max_steps`` or an exit action such as
  ``exit_cost``) and the final evaluation succeeded;
- ``submission_not_found (<action>)``, ``evaluation_format_error (<action>)``,
  ``<ExceptionClass>, <message>, (<action>)``: the final evaluation failed;
- ``skipped``, ``exit_forfeit``: voluntary ends without evaluation;
- ``early_exit``: the sandbox failed;
- ours: ``interrupted`` (Ctrl-C or SIGTERM) and ``unknown_error (<Class>: <message>)`` (the agent loop
  crashed; MLGym leaves it empty and its analysis relabels it so).

Code builds statuses with the functions below and compares with the constants; it never takes a
status apart again, except :func:`forced_reason` for a trajectory written elsewhere (MLGym's).
"""

from __future__ import annotations

from enum import Enum


class ExitAction(str, Enum):
    """Actions an agent sends to end the episode with an autosubmission."""

    CONTEXT = "exit_context"
    COST = "exit_cost"
    ERROR = "exit_error"
    FORMAT = "exit_format"
    API = "exit_api"

    def __str__(self) -> str:
        return self.value


EXIT_ACTIONS: tuple[str, ...] = tuple(a.value for a in ExitAction)
"""The exit actions as plain strings, in MLGym's order."""

SUBMITTED = "submitted"
SKIPPED = "skipped"
SKIP = "skip"
"""The action that ends an episode as ``skipped``."""
EXIT_FORFEIT = "exit_forfeit"
"""Both the action and the status of a voluntary end without evaluation."""
EARLY_EXIT = "early_exit"
INTERRUPTED = "interrupted"
MAX_STEPS = "max_steps"
"""The reason of an autosubmission past the step budget."""

FORCED_REASONS: tuple[str, ...] = (MAX_STEPS, *EXIT_ACTIONS)


def autosubmission(reason: str) -> str:
    """``autosubmission (<reason>)``: a forced end whose final evaluation succeeded."""
    return f"autosubmission ({reason})"


def submission_not_found(action: str) -> str:
    return f"submission_not_found ({action})"


def evaluation_format_error(action: str) -> str:
    return f"evaluation_format_error ({action})"


def evaluation_error(exc: BaseException, action: str) -> str:
    """MLGym's status for any other exception of the final evaluation: ``<Class>, <message>, (<action>)``."""
    return f"{type(exc).__name__}, {exc}, ({action})"


def unknown_error(exc: BaseException) -> str:
    """The agent loop crashed with ``exc`` (MLGym writes ``""`` and relabels it in analysis)."""
    return f"unknown_error ({type(exc).__name__}: {exc})"


ACCEPTABLE_ENDS: tuple[str, ...] = (SUBMITTED, autosubmission(MAX_STEPS))
"""The ends MLGym's analysis counts as acceptable."""


def forced_reason(status: str) -> str | None:
    """The reason of an ``autosubmission (<reason>)`` status read from a trajectory file, else None."""
    for reason in FORCED_REASONS:
        if status == autosubmission(reason):
            return reason
    return None


def exit_words(action: str, reason: str) -> tuple[str, str]:
    """MLGym's (thought, response) recorded for an exit action (reference 3.6)."""
    if action == ExitAction.FORMAT:
        return "Exit due to format error", ""
    if action == ExitAction.CONTEXT:
        return "Exit due to context window", "Exit due to context window"
    if action == ExitAction.COST:
        return "Exit due to cost limit", "Exit due to cost limit"
    if action == ExitAction.ERROR:
        return f"Exit due to runtime error: {reason}", f"exit due to runtime error: {reason}"
    return f"Exit due to unexpected error: {reason}", f"exit due to unexpected error: {reason}"
