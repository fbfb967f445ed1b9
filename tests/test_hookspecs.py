"""Meta-tests that keep the plugin contract honest (style rule 24)."""

from __future__ import annotations

import inspect
from pathlib import Path

import mlgym_core.hookspecs as hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("register_")]


def test_there_are_eight_hooks():
    assert sorted(n for n, _ in HOOKS) == sorted([
        "register_tasks", "register_datasets", "register_tools", "register_agents", "register_metrics",
        "register_runtimes", "register_model_backends", "register_commands", "register_attacks"])


def test_every_hookspec_has_a_docstring_with_returns_or_args():
    for name, fn in HOOKS:
        doc = inspect.getdoc(fn) or ""
        assert doc.strip(), name
        assert "Returns:" in doc or "Args:" in doc, name


def test_every_hookspec_is_typed():
    for name, fn in HOOKS:
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), name


def test_docs_have_a_heading_with_the_exact_signature():
    text = (ROOT / "docs" / "hooks.md").read_text()
    for name, fn in HOOKS:
        assert f"## `{name}{inspect.signature(fn)}`" in text, name


def test_every_hook_has_a_test():
    text = (ROOT / "tests" / "test_plugins.py").read_text()
    for name, _ in HOOKS:
        assert f"def test_hook_{name}(" in text, name


def test_size_budgets():
    def lines(rel):
        return len((ROOT / rel).read_text().splitlines())

    assert lines("mlgym_core/hookspecs.py") <= 150
    assert lines("mlgym_core/plugins.py") <= 150
    assert lines("mlgym_core/registry.py") <= 200
    for p in (ROOT / "plugins").glob("*/*/plugin.py"):
        assert len(p.read_text().splitlines()) <= 80, p
