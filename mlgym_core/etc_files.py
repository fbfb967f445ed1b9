"""The sandboxes' private /etc (built once) and this uid's private folder of prebuilt sandbox parts."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from .errors import SandboxError
from .privileges import sandbox_uids
from .sandbox import AGENT_HOME, SANDBOX_UID

ETC_ALLOW = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "ssl", "ca-certificates", "mime.types", "magic", "magic.mime", "fonts", "os-release",
             "debian_version", "protocols", "services", "inputrc", "timezone")


@functools.cache
def etc_dir() -> Path:
    """A private /etc for sandboxes, built once: the allowed entries of the host's /etc (copied,
    symlinks kept) plus a passwd and group naming the sandbox users. One bind mount
    instead of one per entry keeps sandbox start fast."""
    uids = sandbox_uids()
    users = [("agent", SANDBOX_UID)] + ([("agent", uids.agent), ("grader", uids.grader), ("agent-code", uids.code)]
                                        if uids else [])
    stamp = hashlib.sha1(repr([(n, _mtime(Path("/etc") / n)) for n in ETC_ALLOW] + users).encode()).hexdigest()[:10]
    d = private_dir() / f"etc-{stamp}"
    if (d / "group").exists():
        return d
    tmp = Path(tempfile.mkdtemp(prefix=d.name + ".", dir=d.parent))
    tmp.chmod(0o755)
    for name in ETC_ALLOW:
        src = Path("/etc") / name
        try:
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, tmp / name, symlinks=True)
            elif src.exists() or src.is_symlink():
                shutil.copy2(src, tmp / name, follow_symlinks=False)
        except OSError:
            continue
    (tmp / "passwd").write_text("root:x:0:0::/root:/bin/false\n" + "".join(
        f"{n}:x:{u}:{u}::{AGENT_HOME}:/bin/bash\n" for n, u in users) + "nobody:x:65534:65534::/:/bin/false\n")
    (tmp / "group").write_text("root:x:0:\n" + "".join(f"{n}:x:{u}:{n}\n" for n, u in users)
                               + "nogroup:x:65534:\n")
    try:
        tmp.rename(d)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return d


def passwd_files() -> tuple[Path, Path]:
    """The sandboxes' /etc/passwd and /etc/group (naming the uids of :func:`sandbox_uids`), for a
    runtime that binds them (the docker runtime)."""
    d = etc_dir()
    return d / "passwd", d / "group"


def private_dir() -> Path:
    """This uid's folder of prebuilt sandbox parts (/etc, empty masks): 0700 and ours, so no other
    local user can plant what sandboxes bind (a predictable name in /tmp alone would let them)."""
    d = Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}"
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SandboxError(f"{d}: not a private folder of uid {os.getuid()} (owner {st.st_uid}, mode "
                           f"{stat.S_IMODE(st.st_mode):o}); remove it")
    return d


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0
