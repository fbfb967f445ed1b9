"""Provenance, ambiguity, qualified names, suggestions and validation of what plugins return."""

from __future__ import annotations

import pytest

from mlgym_core import AmbiguousNameError, PluginSpecError, UnknownNameError, hookimpl
from mlgym_core.registry import collect, get, get_task
from mlgym_core.testing import make_task_spec, registered


def _pack(folder, *ids):
    class Pack:
        @hookimpl
        def register_tasks(self):
            return [make_task_spec(folder, id=i) for i in ids]

    return Pack()


def test_items_are_stamped_with_plugin_and_version(core_only, tmp_path):
    with registered(_pack(tmp_path, "titanic"), "a"):
        t = get_task("titanic")
        assert (t.plugin, t.plugin_version, t.qualified) == ("a", "0", "a/titanic")


def test_ambiguous_task_id_lists_both_plugins(core_only, tmp_path):
    with registered(_pack(tmp_path, "titanic"), "a"), registered(_pack(tmp_path, "titanic"), "b"):
        with pytest.raises(AmbiguousNameError, match=r"a/titanic.*b/titanic"):
            get_task("titanic")
        assert get_task("b/titanic").plugin == "b"
        assert get_task("a/titanic").plugin == "a"


def test_unknown_name_suggests_closest(core_only, tmp_path):
    with registered(_pack(tmp_path, "rlMetaMazeMisc", "battleOfSexes"), "a"):
        with pytest.raises(UnknownNameError, match=r"No task 'rlMetaMze'\. Did you mean 'rlMetaMazeMisc'\?"):
            get_task("rlMetaMze")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'baseline'"):
        get("agents", "baselin")


def test_unknown_task_of_a_missing_pack_gives_install_hint(core_only):
    with pytest.raises(UnknownNameError, match=r"CV tasks ship in mlgym-tasks-cv, which is "
                                                r"(not installed: pip install -e plugins/mlgym_tasks_cv|"
                                                r"installed but not loaded)"):
        get_task("imageClassificationCifar11")


def test_wrong_type_is_reported_with_plugin_hook_and_item(core_only):
    class Bad:
        @hookimpl
        def register_tools(self):
            return ["submit"]

    with registered(Bad(), "tools"):
        with pytest.raises(PluginSpecError, match=r"plugin 'tools' returned str from register_tools\(\) "
                                                  r"\(item 1: 'submit'\); expected ToolSpec"):
            collect("tools")


def test_duplicate_ids_within_one_plugin_are_an_error(core_only, tmp_path):
    with registered(_pack(tmp_path, "x", "x"), "dup"):
        with pytest.raises(PluginSpecError, match=r"plugin 'dup' returned 'x' twice"):
            collect("tasks")


def test_hook_exception_names_the_plugin(core_only):
    class Boom:
        @hookimpl
        def register_agents(self):
            raise RuntimeError("kaput")

    with registered(Boom(), "boom"):
        with pytest.raises(PluginSpecError, match=r"plugin 'boom' failed in register_agents\(\): RuntimeError: kaput"):
            collect("agents")


def test_registry_reads_are_read_only(core_only, tmp_path):
    from mlgym_core import tasks

    with registered(_pack(tmp_path, "t1"), "a"):
        m = tasks()
        assert "a/t1" in m
        with pytest.raises(TypeError):
            m["x"] = 1  # type: ignore[index]
