"""The built-in ``scripted`` model backend: replies from JSON, JSONL, or MLGym's replay file."""

from __future__ import annotations

import json

import pytest

from mlgym_core import ConfigError
from mlgym_core.builtin_plugins.models import ScriptedBackend
from mlgym_core.protocols import ModelError
from mlgym_core.registry import get_model_backend


def test_replies_in_order_then_a_clear_error(core_only, tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps(["first reply", {"content": "", "tool_calls": [{"id": "1"}]}]))
    m = get_model_backend("scripted").factory(str(f))
    c = m.complete([{"role": "user", "content": "one two three"}])
    assert (c.content, c.input_tokens, c.output_tokens) == ("first reply", 3, 2)
    assert m.complete([]).tool_calls == [{"id": "1"}]
    with pytest.raises(ModelError, match="ran out of replies after 2"):
        m.complete([])


def test_jsonl_and_mlgym_replay_mapping(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('"a"\n"b"\n')
    assert ScriptedBackend(str(f)).replies == ["a", "b"]
    g = tmp_path / "replay.jsonl"
    g.write_text(json.dumps({"battleOfSexes": ["x", "y"], "blotto": ["z"]}) + "\n")
    assert ScriptedBackend(str(g), task_id="blotto").replies == ["z"]
    with pytest.raises(ConfigError, match="none is 'prisonersDilemma'"):
        ScriptedBackend(str(g), task_id="prisonersDilemma")


def test_bad_reply_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ScriptedBackend(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="neither JSON nor JSONL"):
        ScriptedBackend(str(bad))
