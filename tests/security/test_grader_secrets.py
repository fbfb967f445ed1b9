"""The grader's secrets stay with the grader: agent code that the grader runs (the 3SAT
heuristic) sees no secret instances, labels, grader files, grader processes or package
metadata. A real 3SATTime episode; the test fails if the heuristic finds anything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ..conftest import needs_bwrap, needs_games
from ._attack import act, episode, validate, write
from .test_forge_score import HEURISTIC


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
    for p in (glob.glob(os.path.join(base, "*mlgym*"))
              + glob.glob(os.path.join(base, "lib/python3*/site-packages/*mlgym*"))):
        for root, dirs, files in os.walk(p):
            for n in files:
                if readable(os.path.join(root, n)):
                    note(os.path.join(root, n))
if found:
    raise RuntimeError("LEAK: " + " ".join(sorted(found))[:1500])
'''


@needs_games
@needs_bwrap
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


# -- the launcher itself, in each isolation it can give --------------------------------------
PROBE = r"""
import os
import mlgym_worker

def readable(path):
    try:
        with open(path, "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False

def probe(h, _payload):
    try:
        os.close(os.open(f"/proc/{h['evaluator']}/fd/1", os.O_WRONLY))
        evaluator_fd = True
    except OSError:
        evaluator_fd = False
    extra_fds = []
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
            extra_fds.append(fd)
        except OSError:
            pass
    pids = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
    return {"uid": os.getuid(), "evaluator_fd": evaluator_fd, "secret": readable(h["secret"]),
            "code": sorted(os.listdir(h["code"])), "extra_fds": len(extra_fds), "other_pids": len(pids) > 2}, b""

mlgym_worker.serve(probe)
"""
EVALUATOR = r"""
import json, os, sys
from mlgym_core.task import worker_lib
mw = worker_lib()
code, secret = sys.argv[1], sys.argv[2]
w = mw.spawn(sys.stdin.read(), code=code)
reply, _ = w.request({"evaluator": os.getpid(), "secret": secret, "code": code}, timeout=60)
w.close()
print(json.dumps({"isolation": w.isolation, **reply}))
"""


@pytest.mark.parametrize("mode", ["bwrap", "uid", "none"])
def test_the_worker_launcher_in_each_isolation(mode):
    if mode == "uid" and os.geteuid() != 0:
        pytest.skip("the uid fallback needs root")
    if mode == "none" and os.geteuid() == 0:
        pytest.skip("as root the launcher never falls back to 'none'")
    base = Path(tempfile.mkdtemp(prefix="mlgym-worker-test-"))  # traversable by the fallback uid
    base.chmod(0o755)
    code = base / "code"
    code.mkdir()
    (code / "strategy.py").write_text("x = 1\n")
    (code / "strategy.py").chmod(0o644)
    secret = base / "secret.txt"
    secret.write_text("answers\n")
    secret.chmod(0o600)
    env = {**os.environ, "MLGYM_WORKER_ISOLATION": "" if mode == "bwrap" else mode}
    try:
        res = subprocess.run([sys.executable, "-c", EVALUATOR, str(code), str(secret)], input=PROBE, env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(base)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["isolation"] == mode
    assert got["evaluator_fd"] is False  # never the evaluator's descriptors
    assert got["extra_fds"] == 2  # its two pipes, nothing inherited
    assert got["code"] == ["strategy.py"]
    if mode != "none":
        assert got["secret"] is False and got["uid"] == 65534
    if mode == "bwrap":
        assert got["other_pids"] is False
