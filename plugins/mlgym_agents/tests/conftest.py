"""Fixtures of the mlgym-agents tests: a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from mlgym_agents.testing import ScriptedServer


@pytest.fixture
def server():
    """``server(script, **kw)`` starts a ScriptedServer; all are shut down after the test."""
    started = []

    def make(script=None, **kw):
        s = ScriptedServer(script, **kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()
