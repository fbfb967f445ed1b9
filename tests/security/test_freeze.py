"""Collection without races: while ``frozen()`` runs, no process of the agent's sandbox moves."""

from __future__ import annotations

import time

from .conftest import needs_bwrap, out

pytestmark = needs_bwrap

WRITER = "( while :; do echo x >> ticks; sleep 0.005; done ) >/dev/null 2>&1 & disown; echo started"
SPAWNER = "( while :; do ( echo y >> spawned ) & sleep 0.005; done ) >/dev/null 2>&1 & disown; echo started"


def wait_for_growth(path, size: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now > size:
            return now
        time.sleep(0.01)
    raise AssertionError(f"{path.name} did not grow past {size} bytes in {seconds} s")


def test_a_background_writer_makes_no_progress_while_frozen_and_resumes_after(start_sandbox):
    box = start_sandbox()
    assert "started" in out(box, WRITER) and "started" in out(box, SPAWNER)
    ticks, spawned = box.workspace_host / "ticks", box.workspace_host / "spawned"
    wait_for_growth(ticks, 0)
    wait_for_growth(spawned, 0)
    with box.frozen():
        sizes = ticks.stat().st_size, spawned.stat().st_size
        time.sleep(0.3)  # the writers would append ~60 lines in this time
        assert (ticks.stat().st_size, spawned.stat().st_size) == sizes
    wait_for_growth(ticks, sizes[0])
    wait_for_growth(spawned, sizes[1])
    assert out(box, "echo alive").strip() == "alive"  # the shell works after the thaw


def test_freeze_is_recorded_and_can_be_repeated(start_sandbox):
    box = start_sandbox()
    with box.frozen():
        pass
    with box.frozen():
        pass
    assert out(box, "echo ok").strip() == "ok"
    env = box.envelope.record()
    assert "freezer" in env["applied"] or "freezer" in env["not_applied"]
