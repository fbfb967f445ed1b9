"""Parsing model output into (thought, action), following MLGym's ``MLGymThoughtActionParser``.

Rules (reference section 3.3):

* Fenced blocks are first counted with a non-greedy ```` ```...``` ```` match over the whole reply;
  more than one is a format error. Backticks inside an edit therefore only matter when they
  form a second complete triple-backtick pair.
* The action is the content of the last *top-level* fenced block. A fence starts a line: ```` ``` ````
  plus an optional language tag (```` ```bash ````) and whitespace up to a newline opens a block (or,
  with nothing open, a bare one does); a bare ```` ``` ```` closes the innermost open block.
* Thought and action are MLGym's slices, unstripped: the action keeps its final newline
  (``"ls\\n"``) and the thought is everything outside the block, blank lines included.
* Line ends: a CRLF reply parses as in MLGym (a fence's trailing whitespace may hold ``\\r``); the
  thought and action are returned with LF line ends, so a multi-line command runs as written.
* No block: format error.
"""

from __future__ import annotations

import re

_PAIR = re.compile(r"```.*?```", re.DOTALL)
_FENCE = re.compile(r"^```(\S*)\s*\n|^```\s*$", re.MULTILINE)


class FormatError(Exception):
    """The reply does not hold exactly one command block."""


def count_blocks(text: str) -> int:
    return len(_PAIR.findall(text))


def parse_thought_action(text: str, *, allow_several: bool = False) -> tuple[str, str]:
    """Split a reply into (thought, action); raise :class:`FormatError` when it has no usable block.

    ``allow_several=True`` gives MLGym's ``ThoughtActionParser`` (the last block wins).
    """
    if not allow_several and count_blocks(text) > 1:
        raise FormatError("more than one fenced code block")
    stack: list[re.Match[str]] = []
    last: tuple[re.Match[str], re.Match[str]] | None = None
    for m in _FENCE.finditer(text):
        if stack and not m.group(1):  # a bare fence closes the innermost open block
            start = stack.pop()
            if not stack:
                last = (start, m)
        elif m.group(1) is not None:  # a fence followed by a line end (tagged or not) opens one
            stack.append(m)
    if last is None:
        raise FormatError("no fenced code block")
    start, end = last
    action = text[start.end():end.start()]
    thought = text[:start.start()] + text[end.end():]
    return thought.replace("\r\n", "\n"), action.replace("\r\n", "\n")


def strip_discussion(thought: str) -> str:
    """The thought without a leading ``DISCUSSION`` heading."""
    return re.sub(r"^\s*DISCUSSION\s*\n?", "", thought, count=1).strip()
