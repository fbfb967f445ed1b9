"""What an agent's action means before it reaches the shell, and what the agent sees of its output."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .exits import EXIT_ACTIONS

__all__ = ["DEFAULT_SHORT_TIMEOUT", "EXIT_ACTIONS", "LONG_COMMANDS", "clean_output", "is_long", "with_heredocs"]

LONG_COMMANDS = ("torchrun", "python", "python3", "accelerate", "deepspeed")
"""An action naming one of these runs under the training timeout instead of the short one."""
DEFAULT_SHORT_TIMEOUT = 25.0
_TQDM_LINE = re.compile(r"(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])")


def clean_output(text: str) -> str:
    """A command's output as MLGym shows it: CRLF read as LF, then every empty line and every
    tqdm progress-bar line dropped (so no trailing newline is left)."""
    lines = text.replace("\r\n", "\n").splitlines()
    return "\n".join(ln for ln in lines if ln and not _TQDM_LINE.search(ln))


def is_long(action: str) -> bool:
    """Whether ``action`` runs under the training timeout (it names a training launcher)."""
    return any(k in action for k in LONG_COMMANDS)


def with_heredocs(action: str, end_names: Mapping[str, str]) -> tuple[str, str]:
    """Turn every multi-line command block (``edit a:b`` ... ``end_of_edit``), on any line of
    the action, into a here-document, as MLGym does. ``end_names`` maps a command to its end
    line. Returns (command, problem): an action that starts such a block without its end line
    is refused unrun, with the problem to show the agent."""
    if not end_names:
        return action, ""
    lines = action.split("\n")
    i = 0
    while i < len(lines):
        words = lines[i].split(None, 1)
        end = end_names.get(words[0]) if words else None
        if end is not None:
            close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == end), None)
            if close is None and i == 0:
                return "", (f"Malformed {words[0]} command. Please ensure you use the `{end}` keyword to mark "
                            f"the end of your {words[0]}.")
            if close is not None:  # (a later line that merely starts with the word runs as written)
                lines[i] = f"{lines[i].rstrip()} << '{end}'"
                lines[close] = end
                i = close
        i += 1
    return "\n".join(lines), ""
