"""Never host root: the unprivileged host uids that sandboxes run under when mlgym is started as root.

Started by an ordinary user, a sandbox runs as that user (bubblewrap maps it into a user
namespace); nothing here applies. Started as root, three uids that no normal account uses
(``MLGYM_SANDBOX_UID_BASE``, default 60100, and the two after it) take the three roles:

- ``agent``: the agent's shell and everything it starts; owns the workspace;
- ``grader``: the pristine evaluator;
- ``code``: agent code that the grader runs on the agent's behalf (a strategy, a policy).

How to use it (the local runtime does this): run bubblewrap as root *without* a user namespace
and without ``--cap-drop`` (the mounts need root; paths such as a pyenv under /root stay
bindable), and put :func:`as_user_argv` after bwrap's ``--``: the first process in the sandbox
switches to the uid, clears groups, capabilities (bounding and inheritable sets) and sets
no_new_privs before exec-ing the command. bwrap's own pid-1 stays root, so the sandbox's uid
cannot open its file descriptors through /proc.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .errors import SandboxError

UID_BASE_ENV = "MLGYM_SANDBOX_UID_BASE"
DEFAULT_UID_BASE = 60100


class SandboxUids(NamedTuple):
    agent: int
    grader: int
    code: int


def sandbox_uids() -> SandboxUids | None:
    """The three host uids of the sandboxes, or None when mlgym does not run as root."""
    if os.geteuid() != 0:
        return None
    raw = os.environ.get(UID_BASE_ENV, "").strip()
    try:
        base = int(raw) if raw else DEFAULT_UID_BASE
    except ValueError:
        raise SandboxError(f"{UID_BASE_ENV}={raw!r}: expected an integer uid (e.g. 60100)") from None
    if not 1000 <= base <= 2 ** 31 - 4:
        raise SandboxError(f"{UID_BASE_ENV}={base}: expected a uid between 1000 and 2147483644, "
                           "used by no account")
    return SandboxUids(base, base + 1, base + 2)


def setpriv_path() -> str:
    path = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxError("mlgym runs as root and needs setpriv (util-linux) to drop privileges in the "
                           "sandbox: apt-get install util-linux")
    return path


def as_user_argv(uid: int) -> list[str]:
    """An argv prefix that runs the rest as ``uid`` (gid the same), with no groups, no capabilities
    (inheritable and bounding sets cleared; a switch from root away from uid 0 clears the rest)
    and no_new_privs (a setuid binary grants nothing). Must be exec-ed by root."""
    u = str(int(uid))
    return [setpriv_path(), "--reuid", u, "--regid", u, "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs"]


def give_to(path: Path, uid: int, *, keep: Iterable[Path] = ()) -> None:
    """chown ``path`` and everything below it to ``uid``; the paths in ``keep`` (and what is below
    them) stay as they are. Walks with directory descriptors and never follows a link (a link's
    own owner changes), so a folder swapped for a link to a host path mid-walk changes nothing
    outside ``path``."""
    kept = {os.path.realpath(p) for p in keep}
    if os.path.islink(path) or not os.path.isdir(path):
        if os.path.realpath(path) not in kept:
            os.lchown(path, uid, uid)
        return
    for root, dirs, files, dfd in os.fwalk(path, follow_symlinks=False):
        here = os.path.realpath(root)
        if here in kept:
            dirs[:] = []
            continue
        os.chown(dfd, uid, uid)
        for name in files + dirs:
            if os.path.join(here, name) in kept:
                if name in dirs:
                    dirs.remove(name)
                continue
            # folders are changed from inside, through their own descriptor; links (also to folders,
            # which fwalk lists as folders and never enters) here, themselves
            if name not in dirs or stat.S_ISLNK(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                os.chown(name, uid, uid, dir_fd=dfd, follow_symlinks=False)
