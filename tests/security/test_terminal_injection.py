"""Agent-written text cannot drive the user's terminal or crash the live display.

`mlgym run`/`replay` show the last action on the terminal while a run goes on. An action with
rich markup ("[/red]") must not crash the display, and one with escape sequences (set the window
title, clear the screen) must reach the terminal only as harmless text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import needs_bwrap, needs_games

EVIL = "echo '[/red] [bold]x \x1b]0;PWNED\x07 \x1b[2J \x9b31m'"


@needs_games
@needs_bwrap
@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux 'script' (a pseudo-terminal) is missing")
@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_markup_and_escapes_in_an_action_reach_the_terminal_as_text(tmp_path: Path, tty: bool) -> None:
    steps = [{"action": EVIL, "observation": "", "response": EVIL, "state": "{}", "thought": "", "execution_time": 0.1},
             {"action": "submit", "observation": "", "response": "submit", "state": "{}", "thought": "",
              "execution_time": 0.1}]
    traj = tmp_path / "evil.traj"
    traj.write_text(json.dumps({"environment": "mlgym_main", "trajectory": steps, "history": [],
                                "info": {"exit_status": "submitted"}}))
    argv = [sys.executable, "-m", "mlgym_core", "replay", str(traj), "--task", "battleOfSexes",
            "--output", str(tmp_path / "runs")]
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    if tty:  # a real pseudo-terminal, so the live display runs
        import shlex

        argv = ["script", "-qfec", shlex.join(argv), "/dev/null"]
    res = subprocess.run(argv, capture_output=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out.decode(errors="replace")[-3000:]
    assert b"MarkupError" not in out and b"Traceback" not in out
    assert b"\x1b]0;PWNED" not in out and b"\x1b[2J" not in out and "\x9b31m".encode() not in out
    run = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert run["exit_status"] == "submitted"
