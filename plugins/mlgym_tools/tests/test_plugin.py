import json
import subprocess
import sys

import pytest

from mlgym_core.checks import check_tool
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_tools import plugin
from mlgym_tools.tools import ToolDocError, parse_doc_blocks

TOOLS = list(plugin.register_tools())
ACI = {"open", "goto", "scroll_down", "scroll_up", "create", "edit", "insert", "search_dir", "search_file",
       "find_file", "state"}


def test_provides_expected_tools_and_groups():
    by = {t.name: t for t in TOOLS}
    assert set(by) == ACI | {"memory_write", "memory_read", "literature_search", "parse_pdf_url"}
    assert {n for n, t in by.items() if t.group == "default"} == ACI
    assert {n for n, t in by.items() if t.group == "memory"} == {"memory_write", "memory_read"}
    assert {n for n, t in by.items() if t.group == "literature"} == {"literature_search", "parse_pdf_url"}
    assert by["edit"].end_name == "end_of_edit" and by["insert"].end_name == "end_of_insert"
    assert by["edit"].signature == "edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit"
    assert [(a.name, a.type, a.required) for a in by["open"].arguments] == [
        ("path", "string", True), ("line_number", "integer", False)]
    assert by["scroll_down"].docstring == "moves the window down 1000 lines"
    assert by["memory_read"].service is by["memory_write"].service is not None
    assert by["literature_search"].service is not None and by["open"].service is None


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_tool_passes_conformance(tool):
    check_tool(tool)


def test_listed_by_cli():
    assert "tools" in {p["name"] for p in list_plugins_json()}
    out = subprocess.run([sys.executable, "-m", "mlgym_core.cli", "list", "tools", "--json"], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip().startswith("["):
        out = subprocess.run(["mlgym", "list", "tools", "--json"], capture_output=True, text=True, check=True)
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["insert"]["end_name"] == "end_of_insert"
    assert rows["search_dir"]["arguments"][1] == {"name": "dir", "type": "string", "required": False,
                                                 "description": "the directory to search in (if not provided, "
                                                                "searches in the current directory)"}
    assert rows["memory_write"]["group"] == "memory"


def test_plugin_import_is_cheap():
    code = ("import sys, mlgym_tools.plugin as p; p.register_tools(); "
            "heavy = [m for m in ('torch', 'lancedb', 'pyarrow', 'sentence_transformers', 'semanticscholar', "
            "'pdfplumber') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_doc_block_names_file_and_line():
    with pytest.raises(ToolDocError, match=r"x\.sh:2: the @yaml block needs 'signature' and 'docstring'"):
        parse_doc_blocks("# hi\n# @yaml\n# signature: foo\nfoo() { :; }\n", "x.sh")
    with pytest.raises(ToolDocError, match=r"y\.sh:1: the @yaml block is not valid YAML"):
        parse_doc_blocks("# @yaml\n# signature: [unclosed\n", "y.sh")


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("tools").provides == {"tools": 15}
