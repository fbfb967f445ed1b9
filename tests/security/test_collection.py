"""Artifact collection: links never followed, only regular files, sizes capped, no race with
the agent's background processes. Real battleOfSexes episodes; each test fails if the attack works."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from ..conftest import needs_bwrap, needs_games
from ._attack import act, episode, validate, write

pytestmark = [needs_games, needs_bwrap]

SECRET = "HOST_SECRET_7f3a9c"
GOOD = "def row_strategy(history):\n    return 0"
# swaps strategy.py, and the folder pkg/, for links to host paths, as fast as it can
SWAPPER = '''
import os, sys
secret_file, secret_dir = sys.argv[1], sys.argv[2]
os.makedirs("pkg.real", exist_ok=True)
with open("pkg.real/mod.py", "w") as f:
    f.write("x = 1\\n")
while True:
    os.symlink(secret_file, "strategy.lnk")
    os.replace("strategy.lnk", "strategy.py")
    with open("strategy.new", "w") as f:
        f.write("def row_strategy(history):\\n    return 0\\n")
    os.replace("strategy.new", "strategy.py")
    os.symlink(secret_dir, "pkg")
    os.unlink("pkg")
    os.rename("pkg.real", "pkg")
    os.rename("pkg", "pkg.real")
'''


@pytest.fixture
def host_secret():
    """A root-only (owner-only) host file and folder, outside every sandbox."""
    d = Path(tempfile.mkdtemp(prefix="mlgym-host-secret-"))
    (d / "secret.py").write_text(f"{SECRET} = this line is not python\n")
    (d / "secret.py").chmod(0o600)
    (d / "mod.py").write_text(f"{SECRET} = this line is not python\n")
    (d / "mod.py").chmod(0o600)
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def test_a_symlink_swapped_in_during_validate_is_never_followed(host_secret):
    with episode("battleOfSexes", max_steps=40) as env:
        act(env, write("swap.py", SWAPPER))
        pid = act(env, f"python swap.py {host_secret / 'secret.py'} {host_secret} >swap.log 2>&1 & echo $!").strip()
        for _ in range(20):
            obs, _metrics = validate(env)  # a score is not required: the swap may hide strategy.py
            assert SECRET not in obs, obs
        assert "alive" in act(env, f"kill -0 {pid} && echo alive; cat swap.log")  # it swapped all along
        assert all(SECRET not in str(m) for m in env.scores)


def test_links_fifos_and_the_required_artifact_as_a_link(host_secret):
    with episode("battleOfSexes") as env:
        act(env, write("strategy.py", GOOD))
        act(env, f"mkfifo pipe.py && ln -s {host_secret / 'secret.py'} leak.py && "
                 f"mkdir sub && ln -s {host_secret} sub/deeper && ln -s {host_secret} linked && echo ok")
        obs, metrics = validate(env)  # a FIFO must not block collection; links are skipped
        assert metrics is not None and SECRET not in obs, obs
        act(env, f"rm strategy.py && ln -s {host_secret / 'secret.py'} strategy.py")
        obs, metrics = validate(env)
        assert metrics is None and "strategy.py missing" in obs and SECRET not in obs, obs


def test_a_sparse_3_gb_artifact_is_refused_without_being_copied():
    before = _free_tmp()
    with episode("battleOfSexes") as env:
        act(env, write("strategy.py", GOOD))
        act(env, "truncate -s 3G big.py")
        obs, metrics = validate(env)
        assert metrics is None, obs
        assert "artifact 'big.py' is 3.00 GiB, over the cap" in obs.splitlines()[0], obs
        assert _free_tmp() > before - (256 << 20)  # nothing near 3 GB was written on the host
        act(env, "rm big.py")
        _, metrics = validate(env)
        assert metrics is not None


def _free_tmp() -> int:
    st = os.statvfs(tempfile.gettempdir())
    return st.f_bavail * st.f_frsize
