"""Parsing model output into (thought, action), following MLGym's ``MLGymThoughtActionParser``.

Rules (reference section 3.3):

* Fenced blocks are first counted with a non-greedy ```` ```...``` ```` match over the whole reply;
  more than one is a format error. Backticks inside an edit therefore only matter when they
  form a second complete triple-backtick pair.
* The action is the content of the last *top-level* fenced block: an opening fence starts a
  line and may carry a language tag (```` ```bash ````); a closing fence is a bare ```` ``` ````
  line. A tagged fence inside an open block opens a nested level; a bare fence closes the
  innermost one.
* The thought is everything outside that block (normally the ``DISCUSSION`` paragraph).
* No block: format error.
"""

from __future__ import annotations

import re

_PAIR = re.compile(r"```.*?```", re.DOTALL)
_FENCE = re.compile(r"^```(\S*)[ \t]*(?:\n|\Z)|^```[ \t]*$", re.MULTILINE)


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
        tag = m.group(1)
        if stack and not tag:  # a bare fence closes the innermost open block
            start = stack.pop()
            if not stack:
                last = (start, m)
        else:  # a tagged fence, or a bare one with nothing open, opens a block
            stack.append(m)
    if last is None:
        raise FormatError("no fenced code block")
    start, end = last
    action = text[start.end():end.start()]
    thought = text[:start.start()] + text[end.end():]
    return thought.strip(), action.strip("\n").rstrip()


def strip_discussion(thought: str) -> str:
    """The thought without a leading ``DISCUSSION`` heading."""
    return re.sub(r"^\s*DISCUSSION\s*\n?", "", thought, count=1).strip()
