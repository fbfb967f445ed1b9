"""Tool specs parsed from the ``# @yaml`` documentation blocks of the scripts in ``scripts/``.

Parsing reads a few small text files and needs only pyyaml (a core dependency), so it is cheap
enough to run inside ``register_tools``. The service factories import their heavy dependencies
(lancedb, sentence-transformers, semanticscholar, pdfplumber) only when called.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

from mlgym_core import ToolArgument, ToolSpec

SCRIPTS = files("mlgym_tools") / "scripts"
ACI_FILES = ("defaults.sh", "edit_linting.sh", "search.sh")
SERVICE_FILES = ("memory_write.py", "memory_read.py", "literature_search.py", "parse_pdf_url.py")
DOC_VARS = {"WINDOW": "1000", "OVERLAP": "2"}


class ToolDocError(ValueError):
    """A ``# @yaml`` block that does not describe a tool."""


def parse_doc_blocks(text: str, where: str) -> list[dict[str, Any]]:
    """Every ``# @yaml`` comment block of a script, loaded as YAML, with the line it starts on."""
    blocks: list[dict[str, Any]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "# @yaml":
            i += 1
            continue
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].startswith("#"):
            body.append(lines[i][2:] if lines[i].startswith("# ") else lines[i][1:])
            i += 1
        try:
            doc = yaml.safe_load("\n".join(body))
        except yaml.YAMLError as exc:
            raise ToolDocError(f"{where}:{start}: the @yaml block is not valid YAML: {exc}") from None
        if not isinstance(doc, dict) or not doc.get("signature") or not doc.get("docstring"):
            raise ToolDocError(f"{where}:{start}: the @yaml block needs 'signature' and 'docstring'")
        doc["_line"] = start
        blocks.append(doc)
    return blocks


def _fill(text: str) -> str:
    for k, v in DOC_VARS.items():
        text = text.replace("{" + k + "}", v)
    return text


def spec_from_doc(doc: dict[str, Any], source: Any, where: str, extra: tuple[Any, ...] = (),
                  service: Any = None) -> ToolSpec:
    signature = str(doc["signature"]).strip()
    name = signature.split()[0]
    args = []
    for arg_name, a in (doc.get("arguments") or {}).items():
        if not isinstance(a, dict):
            raise ToolDocError(f"{where}:{doc['_line']}: argument '{arg_name}' of '{name}' must be a mapping")
        args.append(ToolArgument(name=str(arg_name), type=str(a.get("type", "string")),
                                 description=_fill(str(a.get("description", ""))),
                                 required=bool(a.get("required", True))))
    return ToolSpec(name=name, signature=signature, docstring=_fill(str(doc["docstring"]).strip()),
                    arguments=tuple(args), end_name=doc.get("end_name"), source=source,
                    extra_files=extra, service=service, group=str(doc.get("group", "default")))


def all_tools() -> list[ToolSpec]:
    """The ACI (group ``default``), memory (``memory``) and literature (``literature``) tools."""
    helpers = (SCRIPTS / "_aci.py", SCRIPTS / "_mlgym_client.py")
    aci = tuple(SCRIPTS / f for f in ACI_FILES)
    specs = []
    for fname in ACI_FILES + SERVICE_FILES:
        src = SCRIPTS / fname
        where = f"mlgym_tools/scripts/{fname}"
        for doc in parse_doc_blocks(src.read_text(), where):
            group = str(doc.get("group", "default"))
            if group == "default":
                extra = tuple(f for f in aci if f.name != fname) + helpers
                service = None
            else:
                extra = (SCRIPTS / "_mlgym_client.py",)
                service = memory_service if group == "memory" else literature_service
            specs.append(spec_from_doc(doc, src, where, extra, service))
    return specs


def memory_service(*, task_id: str, socket_dir: Any, sandbox_dir: str = "/home/agent/.mlgym",
                   options: dict[str, Any] | None = None) -> Any:
    """Host-side memory store for one episode (LanceDB + embedder), reached over ``memory.sock``."""
    from .memory import MemoryService

    return MemoryService(task_id=task_id, socket_dir=socket_dir, options=options or {})


def literature_service(*, task_id: str, socket_dir: Any, sandbox_dir: str = "/home/agent/.mlgym",
                       options: dict[str, Any] | None = None) -> Any:
    """Host-side Semantic Scholar search and PDF parsing, reached over ``literature.sock``."""
    from .literature import LiteratureService

    return LiteratureService(task_id=task_id, socket_dir=socket_dir, options=options or {})
