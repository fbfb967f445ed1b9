"""The bubblewrap command line of a local sandbox: what it binds, masks and unshares."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

from ...etc_files import etc_dir, private_dir
from ...privileges import as_user_argv
from ...sandbox import AGENT_HOME, SANDBOX_UID, SERVICES_DIR, TOOLS_DIR, WORKSPACE

RUN_TMPFS_BYTES = 64 << 20
SECCOMP_FD = "@SECCOMP_FD@"
"""Placeholder of the fd bwrap reads the seccomp filter from: :meth:`Envelope.wrap` opens the filter on
a free fd and puts its number there."""


def bwrap_path() -> str | None:
    """The bwrap to use (``MLGYM_BWRAP`` or the one on PATH); None without one or with ``MLGYM_ISOLATION=none``."""
    path = os.environ.get("MLGYM_BWRAP", shutil.which("bwrap") or "")
    if not path or os.environ.get("MLGYM_ISOLATION") == "none":
        return None
    return path


@functools.cache
def python_roots() -> tuple[str, ...]:
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.base_prefix, sys.prefix}
    return tuple(sorted(r for r in roots if not r.startswith(("/usr", "/bin", "/lib"))))


@functools.cache
def metadata_masks() -> tuple[tuple[str, str], ...]:
    """(kind, path) of what names an mlgym distribution where the sandbox can see it (the Python
    roots, /usr, /opt): dist-info and egg-info folders, editable-install hooks, console scripts,
    the __pycache__ folders that hold their bytecode, and the packages themselves when installed
    from wheels. Each is covered by an empty read-only folder or file, so nothing in the sandbox says
    which mlgym packages are installed, or where, or with which file hashes (RECORD)."""
    import site
    import sysconfig

    places = {os.path.join(root, "bin") for root in python_roots()} | {sysconfig.get_path("scripts")}
    places |= {*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    for root in python_roots():
        places |= {str(p) for p in Path(root).glob("lib/python3*/*-packages")}
    visible = (*(r + "/" for r in python_roots()), "/usr/", "/opt/")
    masks: list[tuple[str, str]] = []
    for place in sorted(p for p in places if p and (p + "/").startswith(visible)):
        for entry in _scandir(Path(place)):
            if entry.name == "__pycache__":
                if any("mlgym" in e.name.lower() for e in _scandir(Path(entry.path))):
                    masks.append(("dir", entry.path))
            elif "mlgym" in entry.name.lower():
                masks.append(("dir" if entry.is_dir(follow_symlinks=False) else "file", entry.path))
    return tuple(dict.fromkeys(masks))


def _scandir(p: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(p))
    except OSError:
        return []


@functools.cache
def _empty(kind: str) -> str:
    """An empty read-only file or folder (made once) to bind over what must not be seen."""
    d = private_dir() / f"empty-{kind}"
    if not d.exists():
        tmp = d.with_name(f"{d.name}.{os.getpid()}")
        if kind == "dir":
            tmp.mkdir()
            tmp.chmod(0o555)
        else:
            tmp.write_bytes(b"")
            tmp.chmod(0o444)
        try:
            tmp.rename(d)
        except OSError:  # another process made it first
            _rm_any(tmp)
    return str(d)


def _rm_any(p: Path) -> None:
    if p.is_dir():
        p.rmdir()
    else:
        p.unlink()


def _mask_argv(kind: str, path: str) -> list[str]:
    """Cover ``path`` with an empty read-only folder or file (one bind: cheaper than a tmpfs)."""
    return ["--ro-bind", _empty(kind), path]


def bwrap_argv(bwrap: str, *, workspace: Path, ro_binds: dict[str, Path], read_only: tuple[str, ...],
               tools_dir: Path | None, services_dir: Path | None, env: dict[str, str], network: bool,
               hide: tuple[Path, ...], command: list[str], devices: tuple[str, ...] = (),
               run_as: int | None = None, tmpfs_bytes: int = 2 << 30, nestable: bool = False,
               seccomp: bool = False) -> list[str]:
    """The bubblewrap command line of a sandbox whose workspace is ``workspace``.

    ``run_as``: with mlgym started as root, the unprivileged host uid of the sandbox's processes.
    bwrap then runs as root without a user namespace (the mounts need root, and paths such as a
    Python under /root stay bindable) and the command starts with :func:`as_user_argv`, which
    drops to ``run_as`` with no capabilities and no_new_privs. Without it (an ordinary user),
    bwrap maps the caller to uid 1000 in a user namespace, as before.
    ``nestable`` (with ``run_as``): /proc is mounted by a root sh before the drop, without bwrap's
    read-only covers of /proc/sys (root passes bwrap's writability check, so it adds them), which
    lets a sandbox inside (the grader's worker) mount its own /proc; /proc/sys then stays
    unwritable by permissions (root-owned, and the uid holds no capability).
    ``seccomp``: load the filter of :mod:`mlgym_core.seccomp` (the argv must then go through
    :meth:`Envelope.wrap` with ``seccomp=True``, which opens it).
    ``tmpfs_bytes``: the size of /tmp, /home and /dev/shm (/run gets 64 MiB; /dev is read-only).
    ``devices``: GPU ids assigned to the episode; their NVIDIA device nodes (and the driver's
    control nodes) are bound in, and CUDA_VISIBLE_DEVICES in ``env`` names them."""
    a = [bwrap, *(("--seccomp", SECCOMP_FD) if seccomp else ()), "--die-with-parent"]
    if run_as is None:
        a += ["--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
        if network:
            a.append("--share-net")
    else:
        a += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not network:
            a.append("--unshare-net")
        command = as_user_argv(run_as) + command
        if nestable:
            command = ["/bin/sh", "-c", 'mount -t proc -o nosuid,nodev,noexec proc /proc && exec "$@"', "sh",
                       *command]
    a += ["--hostname", "mlgym"]
    for top in ("usr", "bin", "lib", "lib32", "lib64", "sbin", "opt"):
        p = Path("/" + top)
        if p.is_symlink():
            a += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            a += ["--ro-bind", str(p), str(p)]
    proc = ["--dir", "/proc"] if run_as is not None and nestable else ["--proc", "/proc"]
    a += ["--ro-bind", str(etc_dir()), "/etc", *proc, "--dev", "/dev"]
    gpus = [d for d in devices if d.isdigit()]
    if gpus:
        for node in [f"nvidia{d}" for d in gpus] + ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"]:
            a += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
    size = str(int(tmpfs_bytes))
    a += ["--size", size, "--perms", "1777", "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
          "--size", size, "--perms", "1777", "--tmpfs", "/tmp", "--size", str(RUN_TMPFS_BYTES), "--perms", "1777",
          "--tmpfs", "/run", "--size", size, "--tmpfs", "/home", "--perms", "1777", "--dir", AGENT_HOME]
    # The Python install after the tmpfs mounts: a venv under /tmp or /home stays visible.
    made = {"/", "/tmp", "/run", "/home", AGENT_HOME}
    for root in python_roots():
        for parent in reversed(Path(root).parents):  # traversable by the sandbox's uid (/root is 0700)
            if str(parent) not in made:
                made.add(str(parent))
                a += ["--perms", "0755", "--dir", str(parent)]
        a += ["--ro-bind", root, root]
    a += ["--bind", str(workspace), WORKSPACE]
    for rel in read_only:
        host = workspace / rel
        if host.exists():
            a += ["--ro-bind", str(host), f"{WORKSPACE}/{rel}"]
    for dest, host in ro_binds.items():
        a += ["--ro-bind", str(host), dest]
    if tools_dir is not None:
        a += ["--ro-bind", str(tools_dir), TOOLS_DIR]
    if services_dir is not None:
        a += ["--bind", str(services_dir), SERVICES_DIR]
    for h in hide:
        if h.is_dir() and any(str(h).startswith(r + "/") for r in python_roots()):
            a += _mask_argv("dir", str(h))
    for kind, path in metadata_masks():
        a += _mask_argv(kind, path)
    a += ["--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv"]
    for k, v in env.items():
        a += ["--setenv", k, v]
    return a + ["--"] + command
