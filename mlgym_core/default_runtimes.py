"""Built-in plugin: the ``local`` runtime (a workspace on this machine, isolated with bubblewrap)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path

from .hookspecs import hookimpl
from .sandbox import (
    AGENT_HOME,
    SERVICES_DIR,
    TOOLS_DIR,
    WORKSPACE,
    GradeConfig,
    GradeResult,
    SandboxConfig,
)
from .cgroups import EpisodeCgroup
from .leftovers import mark_owner
from .privileges import as_user_argv, give_to, sandbox_uids
from .seccomp import program_file
from .shell import PersistentShell, ShellResult, descendants, kill_descendants
from .specs import RuntimeSpec

ETC_ALLOW = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "ssl", "ca-certificates", "mime.types", "magic", "magic.mime", "fonts", "os-release",
             "debian_version", "protocols", "services", "inputrc", "timezone")
SANDBOX_UID = 1000
"""The agent's uid inside the sandbox's user namespace (mlgym started by an ordinary user)."""
SAFE_ENV = ("LANG", "LC_ALL", "TZ", "CUDA_HOME", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            "OMP_NUM_THREADS")
RUN_TMPFS_BYTES = 64 << 20
SECCOMP_FD = "@SECCOMP_FD@"
"""Placeholder of the fd bwrap reads the seccomp filter from: :meth:`Envelope.wrap` opens the filter on
a free fd and puts its number there."""
DISK_ENV = "MLGYM_WORKSPACE_GB"
DEFAULT_DISK_GB = 4.0
MEMORY_ENV = "MLGYM_MEMORY_GB"


@hookimpl
def register_runtimes() -> list[RuntimeSpec]:
    return [RuntimeSpec(name="local", description="This machine; bubblewrap sandbox (no network, read-only "
                        "system, only the workspace writable) when bwrap is installed", factory=LocalRuntime)]


def bwrap_path() -> str | None:
    path = os.environ.get("MLGYM_BWRAP", shutil.which("bwrap") or "")
    if not path or os.environ.get("MLGYM_ISOLATION") == "none":
        return None
    return path


@functools.cache
def _python_roots() -> tuple[str, ...]:
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.base_prefix, sys.prefix}
    return tuple(sorted(r for r in roots if not r.startswith(("/usr", "/bin", "/lib"))))


@functools.cache
def _etc_dir() -> Path:
    """A private /etc for sandboxes, built once: the allowed entries of the host's /etc (copied,
    symlinks kept) plus a passwd and group naming the sandbox users. One bind mount
    instead of one per entry keeps sandbox start fast."""
    import hashlib

    uids = sandbox_uids()
    users = [("agent", SANDBOX_UID)] + ([("agent", uids.agent), ("grader", uids.grader), ("agent-code", uids.code)]
                                        if uids else [])
    stamp = hashlib.sha1(repr([(n, _mtime(Path("/etc") / n)) for n in ETC_ALLOW] + users).encode()).hexdigest()[:10]
    d = _private_dir() / f"etc-{stamp}"
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
    d = _etc_dir()
    return d / "passwd", d / "group"


def _private_dir() -> Path:
    """This uid's folder of prebuilt sandbox parts (/etc, empty masks): 0700 and ours, so no other
    local user can plant what sandboxes bind (a predictable name in /tmp alone would let them)."""
    d = Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}"
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        from .errors import SandboxError

        raise SandboxError(f"{d}: not a private folder of uid {os.getuid()} (owner {st.st_uid}, mode "
                           f"{stat.S_IMODE(st.st_mode):o}); remove it")
    return d


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


@functools.cache
def _metadata_masks() -> tuple[tuple[str, str], ...]:
    """(kind, path) of what names an mlgym distribution where the sandbox can see it (the Python
    roots, /usr, /opt): dist-info and egg-info folders, editable-install hooks, console scripts,
    the __pycache__ folders that hold their bytecode, and the packages themselves when installed
    from wheels. Each is covered by an empty read-only folder or file, so nothing in the sandbox says
    which mlgym packages are installed, or where, or with which file hashes (RECORD)."""
    import site
    import sysconfig

    places = {os.path.join(root, "bin") for root in _python_roots()} | {sysconfig.get_path("scripts")}
    places |= {*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    for root in _python_roots():
        places |= {str(p) for p in Path(root).glob("lib/python3*/*-packages")}
    visible = (*(r + "/" for r in _python_roots()), "/usr/", "/opt/")
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
    d = _private_dir() / f"empty-{kind}"
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
    ``seccomp``: load the filter of :mod:`.seccomp` (the argv must then go through
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
    a += ["--ro-bind", str(_etc_dir()), "/etc", *proc, "--dev", "/dev"]
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
    for root in _python_roots():
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
        if h.is_dir() and any(str(h).startswith(r + "/") for r in _python_roots()):
            a += _mask_argv("dir", str(h))
    for kind, path in _metadata_masks():
        a += _mask_argv(kind, path)
    a += ["--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv"]
    for k, v in env.items():
        a += ["--setenv", k, v]
    return a + ["--"] + command


def sandbox_env(extra: dict[str, str], devices: tuple[str, ...], *, home: str = AGENT_HOME) -> dict[str, str]:
    """The environment inside a sandbox: no API keys or tokens, only what is listed here."""
    py_bin = os.path.join(sys.prefix, "bin")
    env = {"HOME": home, "USER": "agent", "LOGNAME": "agent", "SHELL": "/bin/bash", "TERM": "dumb",
           "PATH": f"{TOOLS_DIR}:{py_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INPUT": "1", "MPLBACKEND": "Agg", "PAGER": "cat",
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    for k in SAFE_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    env["CUDA_VISIBLE_DEVICES"] = ",".join(d for d in devices if not d.startswith("cpu"))
    env.update(extra)
    return env


def memory_limit_bytes(declared_gb: float | None) -> int:
    """The memory limit of an episode: the task's ``memory_gb``, else ``MLGYM_MEMORY_GB``, else half
    of this machine's memory (never more than the machine has)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gb = declared_gb or _env_gb(MEMORY_ENV, 0.0)
    return min(int(gb * 2 ** 30), total) if gb else total // 2


def _env_gb(name: str, default: float, unit: str = "GiB") -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        from .errors import SandboxError

        raise SandboxError(f"environment variable {name}={raw!r}: expected a positive number of {unit}")
    return value


def disk_cap_bytes() -> int:
    """The workspace disk cap: the largest file the sandbox may write (``MLGYM_WORKSPACE_GB``, default 4)."""
    return int(_env_gb(DISK_ENV, DEFAULT_DISK_GB) * 2 ** 30)


_WRAPPER = r"""for f in $0; do echo $$ > "$f" || exit 125; done
ulimit -f "$1" || exit 125
bpf=$2; shift 2
if [ -n "$bpf" ]; then
  fd=9; while [ -e /proc/self/fd/$fd ]; do fd=$((fd-1)); done
  eval "exec $fd<\"\$bpf\"" || exit 125
  b=$1; shift 3; set -- "$b" --seccomp "$fd" "$@"
fi
exec "$@"
"""
"""Run by /bin/sh before bwrap: $0 the cgroup.procs files to join, $1 the file-size limit in blocks of
512 bytes, $2 the seccomp filter to open on a free fd, whose number replaces the placeholder in
``bwrap --seccomp @SECCOMP_FD@ ...`` (the second and third words of the command, see :func:`bwrap_argv`)."""


class Envelope:
    """An episode's resource envelope: cgroups (pids, memory, CPU, freezer), tmpfs sizes and the
    file-size cap, with a record of what was applied and what this machine could not apply."""

    def __init__(self, *, pids: int, memory_gb: float | None, cpus: float | None, isolated: bool,
                 freezer: bool = True) -> None:
        self.memory = memory_limit_bytes(memory_gb)
        self.disk = disk_cap_bytes()
        self.cgroup = EpisodeCgroup(pids=pids, memory_gb=self.memory / 2 ** 30, cpus=cpus,
                                    freezer=freezer) if isolated else None
        self.applied: dict[str, str] = dict(self.cgroup.applied) if self.cgroup else {}
        self.missing: dict[str, str] = dict(self.cgroup.missing) if self.cgroup else {
            k: "no isolation (bwrap missing)" for k in ("pids", "memory", "cpu", "freezer", "tmpfs")}
        if isolated:
            self.applied["tmpfs"] = (f"/tmp, /home, /dev/shm {self.memory >> 20} MiB; /run {RUN_TMPFS_BYTES >> 20} "
                                     "MiB; /dev read-only")
        self.applied["file_size"] = f"RLIMIT_FSIZE {self.disk >> 20} MiB per file"
        if isolated:
            self.applied["seccomp"] = "fallocate keeping the file size and the kernel keyring calls refused"
        if isolated:
            self.applied["disk_total"] = (f"workspace usage checked every {_DiskWatch.interval():g} s; over "
                                          f"{self.disk >> 20} MiB, the sandbox's commands are killed")
        else:
            self.missing["disk_total"] = "no isolation: the workspace's total size is not watched"

    def wrap(self, argv: list[str], seccomp: bool = False) -> list[str]:
        """Join the cgroups, set the file-size limit (soft and hard, so the sandbox cannot raise it)
        and, with ``seccomp``, open the filter of :mod:`.seccomp` on a free fd and name it in place of
        :data:`SECCOMP_FD`, before exec-ing ``argv`` (one tiny sh: Python still spawns it with vfork)."""
        procs = " ".join(str(d / "cgroup.procs") for d in (self.cgroup.dirs if self.cgroup else []))
        bpf = str(program_file(_private_dir())) if seccomp else ""
        return ["/bin/sh", "-c", _WRAPPER, procs, str(self.disk // 512), bpf, *argv]

    def record(self) -> dict[str, dict[str, str]]:
        return {"applied": dict(self.applied), "not_applied": dict(self.missing)}

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.close()


class LocalSandbox:
    """The agent's sandbox on this machine: one persistent bash inside one bwrap.

    Started as root, the sandbox's processes run as the unprivileged ``agent`` uid of
    :func:`sandbox_uids` (owner of the workspace), never as host root."""

    def __init__(self, config: SandboxConfig, bwrap: str | None) -> None:
        self.config = config
        self.workspace_host = config.workspace
        self.isolation = "bwrap" if bwrap else "none"
        uids = sandbox_uids() if bwrap else None
        self.host_uid = uids.agent if uids else os.getuid()
        env = sandbox_env(config.env, config.devices)
        self.envelope = Envelope(pids=config.pids, memory_gb=config.memory_gb, cpus=config.cpus,
                                 isolated=bool(bwrap))
        cg = self.envelope.cgroup
        self.pids_limit = self.envelope.applied.get("pids", "none")
        try:
            for folder in (config.workspace.parent, config.tools_dir):
                if folder is not None:
                    mark_owner(folder)  # found again by `mlgym gc` if this process dies by SIGKILL
            if uids:
                _hand_over(config, uids.agent)
            if bwrap:
                argv = bwrap_argv(bwrap, workspace=config.workspace, ro_binds=config.ro_binds,
                                  read_only=config.read_only, tools_dir=config.tools_dir,
                                  services_dir=config.services_dir, env=env, network=config.network,
                                  hide=config.hide, command=["/bin/bash", "--noprofile", "--norc"],
                                  devices=config.devices, run_as=uids.agent if uids else None,
                                  tmpfs_bytes=self.envelope.memory, seccomp=True)
                self.shell = PersistentShell(self.envelope.wrap(argv, seccomp=True), env={},
                                             output_cap=config.output_cap, init=config.init)
            else:
                _unprotected_layout(config)
                env["HOME"] = str(config.workspace.parent)
                if config.tools_dir is not None:
                    env["PATH"] = env["PATH"].replace(TOOLS_DIR, str(config.tools_dir))
                self.shell = PersistentShell(self.envelope.wrap(["/bin/bash", "--noprofile", "--norc"]), env=env,
                                             cwd=str(config.workspace), output_cap=config.output_cap,
                                             init=config.init.replace(TOOLS_DIR, str(config.tools_dir or TOOLS_DIR)))
        except BaseException:
            self.envelope.close()
            raise
        self._cgroup = cg
        self.over_disk = 0
        """Bytes the workspace held when the disk watch last found it over the cap (0: not over)."""
        self.killed_at = 0
        """Usage at the disk watch's last kill: only growth past it kills again (a clean-up is spared)."""
        if bwrap:
            _DiskWatch.add(self)

    @property
    def workspace_path(self) -> str:
        return WORKSPACE if self.isolation == "bwrap" else str(self.config.workspace)

    def run(self, command: str, timeout: float) -> ShellResult:
        res = self.shell.run(command, timeout)
        if self.over_disk:
            res.output += (f"\n[mlgym: the workspace holds {self.over_disk >> 20} MiB, over its cap of "
                           f"{self.envelope.disk >> 20} MiB: the command's processes were killed; "
                           "delete files to go on]\n")
            self.over_disk = 0
        return res

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the sandbox stopped while the block runs (artifact collection), thawed
        after: the cgroup freezer where one is writable, else SIGSTOP of every process of the
        sandbox (repeated until no new one appears) and SIGCONT after."""
        cg = self.envelope.cgroup
        if cg is not None and cg.freeze():
            try:
                yield
            finally:
                cg.thaw()
            return
        stopped = _stop_tree(self.shell.pid) if self.shell.alive() else []
        try:
            yield
        finally:
            for pid in stopped:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)

    def get(self, path: str, dest: Path) -> None:
        """Copy a workspace file or folder out, with the sandbox frozen (nothing can be swapped for a
        link meanwhile); a path that leads outside the workspace through a link is refused, and links
        inside a folder are copied as links."""
        with self.frozen():
            src = self._inside(path)
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dest)

    def put(self, source: Path, path: str) -> None:
        """Copy a host file or folder into the workspace, with the sandbox frozen; every target is
        checked to stay in the workspace (a link the agent left there is replaced, never followed)."""
        with self.frozen():
            dst = self._inside(path)
            files = [(source, dst)] if not source.is_dir() else [
                (Path(r) / n, dst / Path(r).relative_to(source) / n) for r, _, names in os.walk(source) for n in names]
            if source.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            for src, target in files:
                parent = self._inside(str(target.parent))
                parent.mkdir(parents=True, exist_ok=True)
                target = parent / target.name
                if target.is_symlink():
                    target.unlink()
                shutil.copy2(src, target)
            if self.host_uid != os.getuid():
                give_to(dst, self.host_uid)

    def _inside(self, path: str) -> Path:
        return inside_workspace(self.config.workspace, self._host_path(path), path)

    def _host_path(self, path: str) -> Path:
        rel = path.removeprefix(WORKSPACE).removeprefix(str(self.config.workspace)).lstrip("/")
        return self.config.workspace / rel

    def close(self) -> None:
        self.shell.close()
        self.envelope.close()


class _DiskWatch:
    """One thread that sums the size of every live sandbox's workspace
    every ``interval`` seconds; a workspace over its cap and still growing gets the processes its
    shell started killed (the shell lives on; a clean-up that shrinks it is left alone) and a note
    in the next observation. With the per-file limit and the
    seccomp filter, one episode's disk use is bounded by about the cap plus what it writes
    between two checks."""

    _boxes: weakref.WeakSet[LocalSandbox] = weakref.WeakSet()
    _thread: threading.Thread | None = None
    _pid = 0
    _lock = threading.Lock()

    @classmethod
    def add(cls, box: LocalSandbox) -> None:
        with cls._lock:
            cls._boxes.add(box)
            if cls._thread is None or cls._pid != os.getpid():  # threads do not survive a fork
                cls._thread = threading.Thread(target=cls._loop, name="mlgym-disk-watch", daemon=True)
                cls._thread.start()
                cls._pid = os.getpid()

    @staticmethod
    def interval() -> float:
        """Seconds between two checks: ``MLGYM_DISK_CHECK_S``, default 2."""
        return _env_gb("MLGYM_DISK_CHECK_S", 2.0, "seconds")

    @classmethod
    def _loop(cls) -> None:
        while True:
            try:
                time.sleep(cls.interval())
            except Exception:  # a bad MLGYM_DISK_CHECK_S: reported where the envelope is made
                time.sleep(2.0)
            for box in list(cls._boxes):
                try:
                    used = _usage(box.workspace_host)
                    if used <= box.envelope.disk:
                        box.killed_at = 0
                    elif used > box.killed_at and box.shell.alive():  # still growing: not a clean-up
                        box.over_disk = box.killed_at = used
                        kill_descendants(box.shell.pid, exclude_shell=True)
                except Exception:  # a sandbox closing under us
                    continue


def _usage(root: Path) -> int:
    """Bytes below ``root``: files at their apparent size (set at once by a write, unlike the
    allocated blocks, which delayed allocation keeps changing after a writer is gone; a sparse
    file counts in full), links not followed."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(e.path)
            total += st.st_size
    return total


def inside_workspace(workspace: Path, host: Path, shown: str) -> Path:
    """``host`` (a path in the host folder ``workspace``) with every link resolved; a SandboxError
    naming ``shown`` when it leads outside. Only reliable while the sandbox is frozen."""
    root = os.path.realpath(workspace)
    real = os.path.realpath(host)
    if real != root and not real.startswith(root + "/"):
        from .errors import SandboxError

        raise SandboxError(f"{shown}: leads outside the workspace (through a link)")
    return Path(real)


def _hand_over(config: SandboxConfig, uid: int) -> None:
    """As root: the workspace (but its read-only files) and the services folder to the agent's uid;
    the tools folder (made 0700 by mkdtemp) readable by it."""
    give_to(config.workspace, uid, keep=[config.workspace / rel for rel in config.read_only])
    if config.services_dir is not None:
        give_to(config.services_dir, uid)
    if config.tools_dir is not None:
        config.tools_dir.chmod(0o755)


def _stop_tree(root: int) -> list[int]:
    """SIGSTOP every process below ``root`` until a scan finds no new one; return them all."""
    stopped: list[int] = []
    seen: set[int] = set()
    for _ in range(200):
        new = [p for p in descendants(root) if p not in seen]
        if not new and all(_stopped(p) for p in stopped):
            break
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
            seen.add(pid)
            stopped.append(pid)
        if not new:
            time.sleep(0.001)  # a SIGSTOP is delivered asynchronously
    return stopped


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return True
    return s[s.rfind(b")") + 2:s.rfind(b")") + 3] in (b"T", b"t", b"Z", b"X")


def _unprotected_layout(config: SandboxConfig) -> None:
    """Without bwrap: copy read-only binds into the workspace and drop write bits (best effort)."""
    for dest, host in config.ro_binds.items():
        if dest.startswith(WORKSPACE + "/"):
            target = config.workspace / dest[len(WORKSPACE) + 1:]
            if not target.exists():
                if host.is_dir():
                    shutil.copytree(host, target)
                else:
                    shutil.copy2(host, target)
            _chmod_ro(target)
    for rel in config.read_only:
        _chmod_ro(config.workspace / rel)


def _chmod_ro(p: Path) -> None:
    if not p.exists():
        return
    paths = [p] + (list(p.rglob("*")) if p.is_dir() else [])
    for q in paths:
        q.chmod(0o555 if q.is_dir() else 0o444)


class LocalRuntime:
    """Runs sandboxes and graders on this machine, under bubblewrap when it is installed."""

    name = "local"
    prestart = True  # start() may run in a background thread (MLGymEnv prestarts the next sandbox)

    def __init__(self, isolation: str = "auto") -> None:
        self.bwrap = None if isolation == "none" else bwrap_path()
        if isolation == "bwrap" and self.bwrap is None:
            from .errors import SandboxError

            raise SandboxError("isolation 'bwrap' was asked for but bwrap is not installed "
                               "(apt-get install bubblewrap)")
        if self.bwrap is None:
            warnings.warn("bubblewrap (bwrap) is not installed: the local runtime runs commands WITHOUT "
                          "isolation (isolation: none); apt-get install bubblewrap", stacklevel=2)
        self.isolation = "bwrap" if self.bwrap else "none"

    def start(self, config: SandboxConfig) -> LocalSandbox:
        return LocalSandbox(config, self.bwrap)

    @staticmethod
    def promises() -> str:
        """What this machine lets the local runtime keep, for ``mlgym list runtimes``."""
        if bwrap_path() is None:
            return "NO isolation here: bwrap is not installed"
        uids = sandbox_uids()
        who = (f"agent uid {uids.agent}, grader uid {uids.grader}" if uids
               else f"as uid {os.getuid()} in a user namespace")
        probe = Envelope(pids=64, memory_gb=0.1, cpus=1, isolated=True)
        probe.close()
        return (f"{who}; enforced: {', '.join(probe.applied)}; not enforced here: "
                f"{', '.join(probe.missing) or 'nothing'}")

    def grade(self, config: GradeConfig) -> GradeResult:
        """Run the evaluator in a fresh sandbox; as root, under the ``grader`` uid (owner of the
        grading folder), within the task's memory, pids and file-size envelope."""
        env = sandbox_env(config.env, config.devices)
        mark_owner(config.folder.parent)
        envelope = Envelope(pids=config.pids, memory_gb=config.memory_gb, cpus=None, isolated=bool(self.bwrap),
                            freezer=False)
        if self.bwrap:
            uids = sandbox_uids()
            if uids:
                give_to(config.folder, uids.grader)
            argv = bwrap_argv(self.bwrap, workspace=config.folder, ro_binds=config.ro_binds, read_only=(),
                              tools_dir=None, services_dir=None, env=env, network=False, hide=config.hide,
                              command=["/bin/bash", "--noprofile", "--norc", "-c", config.command],
                              devices=config.devices, run_as=uids.grader if uids else None,
                              tmpfs_bytes=envelope.memory, nestable=True, seccomp=True)
            cwd = None
        else:
            env["HOME"] = str(config.folder)
            command = config.command
            for dest, host in sorted(config.ro_binds.items(), key=lambda kv: -len(kv[0])):
                if dest.startswith(WORKSPACE + "/"):
                    link = config.folder / dest[len(WORKSPACE) + 1:]
                    if not link.exists():
                        link.symlink_to(host)
                else:
                    command = command.replace(dest, str(host))
            argv = ["/bin/bash", "--noprofile", "--norc", "-c", command.replace(WORKSPACE, str(config.folder))]
            cwd = str(config.folder)
        argv = envelope.wrap(argv, seccomp=bool(self.bwrap))
        from .grading import run_capped

        try:
            return run_capped(argv, env=env if not self.bwrap else {}, cwd=cwd, timeout=config.timeout)
        finally:
            envelope.close()
