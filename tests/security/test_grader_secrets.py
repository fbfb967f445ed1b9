"""The grader's secrets stay with the grader: agent code that the grader runs (the 3SAT
heuristic) sees no secret instances, labels, grader files, grader processes or package
metadata. A real 3SATTime episode; the test fails if the heuristic finds anything."""

from __future__ import annotations

from ..conftest import needs_bwrap, needs_games
from ._attack import act, episode, validate, write
from .test_forge_score import HEURISTIC

pytestmark = [needs_games, needs_bwrap]

# At import, looks everywhere it can for what the grader holds; raises with what it found.
SNOOP = r'''
import glob, os, sys

found = []

def note(what):
    found.append(what)

def readable(path):
    try:
        with open(path, "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False

for pattern in ["/home/agent/workspace/data/*", "/home/agent/workspace/data/**/*", "/home/agent/grader/*",
                "/home/agent/grader/**/*", "/proc/*/root/home/agent/**", "/proc/[0-9]*/cmdline",
                "/proc/[0-9]*/environ"]:
    for p in glob.glob(pattern, recursive=True):
        if os.path.isfile(p) and readable(p) and not p.endswith(("/solver.py", "/mlgym_worker.py")):
            note(p)
for p in glob.glob("/proc/[0-9]*/fd/*"):
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
        note(p)
    except OSError:
        pass
names = ("dataset.pkl", "grader-seed", "hidden_seed.txt")
for top in ["/home", "/tmp", "/run", "/root", "/var", "/srv", "/mnt", "/work", "/opt"]:
    for root, dirs, files in os.walk(top):
        for n in files:
            p = os.path.join(root, n)
            if (n in names or "mlgym" in p and n == "RECORD") and readable(p):
                note(p)
for base in set(sys.path) | {sys.prefix, sys.base_prefix}:
    for p in glob.glob(os.path.join(base, "*mlgym*")) + glob.glob(os.path.join(base, "lib/python3*/site-packages/*mlgym*")):
        for root, dirs, files in os.walk(p):
            for n in files:
                if readable(os.path.join(root, n)):
                    note(os.path.join(root, n))
if found:
    raise RuntimeError("LEAK: " + " ".join(sorted(found))[:1500])
'''


def test_a_3sat_heuristic_finds_no_secret_and_solves_as_without_looking():
    with episode("3SATTime") as env:
        honest_src = HEURISTIC.replace("    if calls <= 3:\n        forge()\n", "")
        act(env, write("heuristic.py", honest_src))
        _, honest = validate(env)
        assert honest is not None and honest["Incorrect"] == 0
        act(env, write("heuristic.py", SNOOP + honest_src))
        obs, metrics = validate(env)
        assert "LEAK" not in obs, obs
        assert metrics is not None, obs
        assert metrics["Decisions"] == honest["Decisions"] and metrics["Correct"] == honest["Correct"], obs
