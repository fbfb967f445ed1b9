"""Tool documentation for prompts, JSON schemas for function calling, and calls back to commands."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Any

HIDDEN = ("state",)
"""Tools the agent runs itself and never shows the model."""

_JSON_TYPES = {"string": "string", "str": "string", "integer": "integer", "int": "integer", "number": "number",
               "float": "number", "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array"}


def visible_tools(tools: Iterable[Any], *, memory: bool, literature: bool) -> list[Any]:
    out = []
    for t in tools:
        if t.name in HIDDEN or t.name.startswith("_"):
            continue
        if t.group == "memory" and not memory:
            continue
        if t.group == "literature" and not literature:
            continue
        out.append(t)
    return out


def render_docs(tools: Sequence[Any]) -> str:
    """MLGym's ``ParseCommandDetailed`` layout: name, docstring, signature, arguments."""
    blocks = []
    for t in tools:
        lines = [f"{t.name}:", f"  docstring: {t.docstring}", f"  signature: {t.signature}"]
        if t.arguments:
            lines.append("  arguments:")
            for a in t.arguments:
                need = "required" if a.required else "optional"
                lines.append(f"    - {a.name} ({a.type}) [{need}]: {a.description}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


BASH_SCHEMA = {"type": "function", "function": {
    "name": "bash",
    "description": "Run one shell command (or a short script) in the persistent bash session and return its output.",
    "parameters": {"type": "object", "properties": {
        "command": {"type": "string", "description": "the command line to run"}}, "required": ["command"]}}}


def tool_schema(t: Any) -> dict[str, Any]:
    """OpenAI function schema for one tool, derived from its docs."""
    props: dict[str, Any] = {}
    required = []
    for a in t.arguments:
        props[a.name] = {"type": _JSON_TYPES.get(a.type.lower(), "string"), "description": a.description}
        if props[a.name]["type"] == "array":
            props[a.name]["items"] = {"type": "string"}
        if a.required:
            required.append(a.name)
    desc = f"{t.docstring}\nCommand form: {t.signature}"
    return {"type": "function", "function": {"name": t.name, "description": desc[:1024],
                                             "parameters": {"type": "object", "properties": props,
                                                            "required": required}}}


def _quote(value: Any) -> str:
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9_./:=,+-]+", text) else shlex.quote(text)


class CallError(ValueError):
    """A function call that cannot become a command (one-line reason)."""


def call_to_command(t: Any | None, args: dict[str, Any]) -> str:
    """The shell command a function call stands for.

    ``bash`` calls run their ``command``. Other tools fill the placeholders of their signature's
    first line (``edit <start_line>:<end_line>`` -> ``edit 3:5``; optional ``[...]`` parts are
    dropped when their arguments are absent); arguments not in that line follow, quoted. For
    multi-line tools (those with an ``end_name``) the argument named on a later signature line,
    or else the last one, is the body, closed by the end marker.
    """
    if t is None:
        cmd = args.get("command")
        if not isinstance(cmd, str) or not cmd.strip():
            raise CallError("bash needs a non-empty string argument 'command'")
        return cmd
    names = [a.name for a in t.arguments]
    unknown = sorted(set(args) - set(names))
    if unknown:
        raise CallError(f"{t.name} has no argument(s) {', '.join(unknown)}; it takes: {', '.join(names) or 'none'}")
    missing = [a.name for a in t.arguments if a.required and args.get(a.name) in (None, "")]
    if missing:
        raise CallError(f"{t.name} needs argument(s) {', '.join(missing)}")
    sig_lines = t.signature.split("\n")
    first = sig_lines[0]
    body_name = None
    if t.end_name:
        later = re.findall(r"<(\w+)>", "\n".join(sig_lines[1:]))
        body_name = later[0] if later else (names[-1] if names else None)
    used: set[str] = set()

    def fill(m: re.Match[str]) -> str:
        name = m.group(2)
        if name in args and args[name] not in (None, "") and name != body_name:
            used.add(name)
            return _quote(args[name])
        return ""

    def optional(m: re.Match[str]) -> str:
        inner = m.group(1)
        want = re.findall(r"<(\w+)>", inner)
        if want and all(args.get(w) not in (None, "") for w in want):
            return inner
        return ""

    line = re.sub(r"\[([^\[\]]*)\]", optional, first)
    line = re.sub(r"(\"?)<(\w+)>\"?", fill, line)
    line = " ".join(line.split())
    extra = [_quote(args[n]) for n in names if n not in used and n != body_name and args.get(n) not in (None, "")]
    if extra:
        line = " ".join([line, *extra])
    if t.end_name:
        body = str(args.get(body_name, "")) if body_name else ""
        return f"{line}\n{body.rstrip(chr(10))}\n{t.end_name}"
    return line
