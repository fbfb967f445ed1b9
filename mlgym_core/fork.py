"""Branch an episode: ``fork()`` (a live copy), ``snapshot()`` and ``restore()`` (a copy on disk).

What a fork or a restored snapshot carries:
- the workspace files: copied with ``cp -a --reflink=always`` (copy-on-write: a fork costs about the
  same whatever the workspace size) where the filesystem can share extents (XFS, Btrfs, ...), else a
  full ``cp -a`` (ext4, tmpfs); ``fork_info["workspace_copy"]`` says which was used;
- the shell state: working directory, exported variables (and which are exported), functions and
  aliases, as bash's own ``declare -px``, ``declare -f`` and ``alias -p`` print them, replayed in the
  new shell (variables the original unset or never had are unset; ``$LAST_ACTION`` is kept);
- the history: steps so far (action, observation, reward), scores, best score, step count, exit
  status, submission, and (fork only) the environment's random generator.

Not carried: processes (background jobs, servers, a training run: the new episode starts a fresh
shell in a fresh sandbox through the runtime's ordinary ``start(SandboxConfig)``), shell variables that
are not exported, shell options, traps, open descriptors, the directory stack, and tool services'
state (services start fresh). While the workspace is copied the original's processes are frozen
(the sandbox's ``frozen()``), so the copy is consistent.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MlgymError
from .sandbox import WORKSPACE

if TYPE_CHECKING:
    from .env import MLGymEnv

SNAPSHOT_SCHEMA = "mlgym-snapshot/1"
_SEP = "\x1f--mlgym-fork--\x1f"
# Runs in a subshell (a copy of the shell: it sees every variable, function and alias, and changes
# nothing); setting __mlgym_c to the previous action keeps $LAST_ACTION as it was (shell.py's marker
# exports LAST_ACTION from __mlgym_c after each command).
# ``builtin``: the agent may have defined functions named like the builtins (``declare``, ``echo``).
_CAPTURE = ("__mlgym_c=${LAST_ACTION-}; ( s=$'" + _SEP.replace("\x1f", "\\x1f") + "'; "
            "builtin compgen -e; builtin echo \"$s\"; builtin declare -px; builtin echo \"$s\"; "
            "for f in $(builtin compgen -A function); do [[ $f == __mlgym* ]] || builtin declare -f \"$f\"; done; "
            "builtin echo \"$s\"; builtin alias -p; builtin echo \"$s\"; builtin printf %s \"$PWD\" ) > {file}")


def _inner_path(env: MLGymEnv, host: Path) -> str:
    """Where the sandbox sees a file of its host workspace."""
    inner = getattr(env.sandbox, "workspace_path", WORKSPACE)
    return f"{inner}/{host.relative_to(env.workspace_host)}" if env.workspace_host else f"{WORKSPACE}/{host.name}"


def _times(folder: Path | None) -> tuple[int, int] | None:
    """``folder``'s access and modification times (None: no folder, or it cannot be read)."""
    if folder is None:
        return None
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_atime_ns, st.st_mtime_ns


def _put_times(folder: Path | None, times: tuple[int, int] | None) -> None:
    """Give ``folder`` back the access and modification times ``times`` (what ``ls -la`` shows of it),
    after a file of ours came and went in it."""
    if folder is not None and times is not None:
        try:
            os.utime(folder, ns=times)
        except OSError:
            pass


def capture_shell(env: MLGymEnv) -> dict[str, Any]:
    """The shell state of a live episode: exported names and their declarations, functions, aliases, cwd."""
    if env.sandbox is None:
        raise MlgymError("fork()/snapshot() need a live episode: call reset() first")
    name = f".mlgym-shell-state-{uuid.uuid4().hex[:12]}"
    ws = env.workspace_host
    host = (ws / name) if ws is not None else None
    inner = _inner_path(env, host) if host is not None else f"{WORKSPACE}/{name}"
    times = _times(ws)  # the capture file comes and goes: the workspace's own times stay as they were
    try:
        res = env.sandbox.run(_CAPTURE.replace("{file}", shlex.quote(inner)), env.short_timeout)
        if res.returncode != 0:
            raise MlgymError(f"could not read the episode's shell state: {res.output.strip()[-300:]}")
        if host is None:  # a runtime without a host workspace: fetch the file through the sandbox
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                env.sandbox.get(inner, Path(tmp) / name)
                text = (Path(tmp) / name).read_text(errors="surrogateescape")
        else:
            text = _read_agent_file(host)
    finally:
        if host is not None:
            host.unlink(missing_ok=True)
            _put_times(ws, times)
        else:
            env.sandbox.run(f"__mlgym_c=${{LAST_ACTION-}}; rm -f {shlex.quote(inner)}", env.short_timeout)
    parts = text.split(_SEP + "\n")
    if len(parts) != 5:
        raise MlgymError("could not read the episode's shell state: unexpected capture output")
    names, exported, functions, aliases, cwd = parts
    return {"exported_names": names.split(), "exported": exported, "functions": functions,
            "aliases": aliases, "cwd": cwd}


def restore_script(shell: dict[str, Any]) -> str:
    """Bash that turns a fresh shell into the captured one (run at top level, in the new sandbox)."""
    keep = " ".join(shell["exported_names"])
    return "\n".join([
        f"cd -- {shlex.quote(shell['cwd'])} || true",
        f"for __mlgym_v in $(compgen -e); do case ' {keep} ' in *\" $__mlgym_v \"*) ;; "
        "*) unset -v \"$__mlgym_v\" 2>/dev/null;; esac; done; unset -v __mlgym_v",
        "{", shell["exported"], "} 2>/dev/null",  # read-only variables cannot be declared again
        "for __mlgym_v in $(compgen -A function); do [[ $__mlgym_v == __mlgym* ]] || unset -f \"$__mlgym_v\"; "
        "done; unset -v __mlgym_v",
        shell["functions"],
        "unalias -a",
        shell["aliases"],
        "__mlgym_c=${LAST_ACTION-}",
        ""])


# -- the workspace ---------------------------------------------------------------------------
_REFLINK_WORKS: dict[tuple[int, int], bool] = {}


def copy_tree(src: Path, dst: Path) -> str:
    """Copy the folder ``src`` into the existing folder ``dst``, keeping owners, modes and links.

    Returns ``"reflink"`` (extents shared copy-on-write) or ``"copy"`` (a full copy, where the
    filesystem cannot share extents, e.g. ext4)."""
    key = (os.stat(src).st_dev, os.stat(dst).st_dev)
    if _REFLINK_WORKS.get(key, True):
        r = subprocess.run(["cp", "-a", "--reflink=always", f"{src}/.", f"{dst}/"], capture_output=True)
        if r.returncode == 0:
            _REFLINK_WORKS[key] = True
            return "reflink"
        _REFLINK_WORKS[key] = False
        for child in list(dst.iterdir()):  # what the failed attempt left
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    r = subprocess.run(["cp", "-a", f"{src}/.", f"{dst}/"], capture_output=True, text=True)
    if r.returncode != 0:
        raise MlgymError(f"copying the workspace {src} failed: {r.stderr.strip()[-300:]}")
    return "copy"


# -- episode state ---------------------------------------------------------------------------
def _history(env: MLGymEnv) -> dict[str, Any]:
    return {"step": env.current_step, "history": copy.deepcopy(env.history), "scores": copy.deepcopy(env.scores),
            "best": env.best, "baseline": dict(env.baseline), "exit_status": env.exit_status,
            "submission": env.submission, "cwd": env.cwd, "done": env._done}


def _adopt(env: MLGymEnv, shell: dict[str, Any], history: dict[str, Any], workspace: Path,
           frozen: Any = None) -> dict[str, Any]:
    """Start ``env``'s sandbox on a copy of ``workspace`` and give it ``shell`` and ``history``;
    returns what was done (``fork_info``)."""
    t0 = time.perf_counter()
    env._done = True
    env._teardown_sandbox(background=True)
    script_name = f".mlgym-shell-restore-{uuid.uuid4().hex[:12]}"
    how: list[str] = []
    copy_s: list[float] = []
    times: list[tuple[int, int] | None] = []

    def fill(ws: Path) -> None:
        import contextlib

        t_copy = time.perf_counter()
        with (frozen() if frozen is not None else contextlib.nullcontext()):
            how.append(copy_tree(workspace, ws))
        copy_s.append(time.perf_counter() - t_copy)
        times.append(_times(ws))  # the original's, which the copy kept; the restore script must not change them
        (ws / script_name).write_text(restore_script(shell), errors="surrogateescape")

    try:
        env.sandbox, env._episode_dir, env._services = env._build_sandbox(fill)
        script = env.workspace_host / script_name if env.workspace_host else None
        inner = _inner_path(env, script) if script is not None else f"{WORKSPACE}/{script_name}"
        res = env.sandbox.run(f"source {shlex.quote(inner)}", env.short_timeout)
        if script is not None:
            script.unlink(missing_ok=True)
            _put_times(env.workspace_host, times[0] if times else None)
        else:
            env.sandbox.run(f"__mlgym_c=${{LAST_ACTION-}}; rm -f {shlex.quote(inner)}", env.short_timeout)
        if res.returncode != 0:
            raise MlgymError(f"restoring the shell state failed: {res.output.strip()[-300:]}")
    except BaseException:
        env._teardown_sandbox()
        raise
    env.current_step = history["step"]
    env.history = copy.deepcopy(history["history"])
    env.scores = copy.deepcopy(history["scores"])
    env.best = history["best"]
    env.baseline = dict(history["baseline"])
    env.exit_status = history["exit_status"]
    env.submission = history["submission"]
    env.cwd = history["cwd"]
    env._done = bool(history["done"])
    return {"workspace_copy": how[0] if how else "copy", "seconds": time.perf_counter() - t0,
            "copy_s": copy_s[0] if copy_s else 0.0}


def _unstarted_copy(parent: MLGymEnv) -> MLGymEnv:
    """A new environment with the parent's resolved task spec, runtime, tools and options but no
    sandbox (building one through ``MLGymEnv(...)`` would read every installed task's YAML again)."""
    from .env import MLGymEnv
    from .task import make_task

    child = MLGymEnv.__new__(MLGymEnv)
    child.__dict__.update(parent.__dict__)
    child.__dict__.update(
        task=make_task(parent.spec_task, parent.task.scale), sandbox=None, _episode_dir=None, _services=[],
        _spare=None, prestart=False, _tools=parent._tools.fresh(), workspace_from=None, _resume_from=None,
        fork_info=None,
        _init_kwargs=dict(parent._init_kwargs, prestart=False, workspace_from=None), _done=True,
        history=[], scores=[], tool_options=dict(parent.tool_options), _np_random=copy.deepcopy(parent._np_random))
    return child


_STATE_MAX = 16 << 20


def _read_agent_file(path: Path) -> str:
    """Read a file the agent's shell just wrote, as the host may be root: never through a link
    (the agent's background processes may swap it for one to a host file), only a regular file,
    at most 16 MiB."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise MlgymError(f"could not read the episode's shell state: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > _STATE_MAX:
            raise MlgymError("could not read the episode's shell state: not a regular file of at most 16 MiB")
        return f.read(_STATE_MAX).decode("utf-8", "surrogateescape")


def fork(parent: MLGymEnv) -> MLGymEnv:
    """A new independent episode equal to ``parent`` at this step (see the module docstring).

    The child's ``fork_info`` says how the workspace was copied (``reflink`` or ``copy``) and how long it took."""
    if parent.sandbox is None or parent.workspace_host is None:
        raise MlgymError("fork() needs a live episode with a host workspace: call reset() first")
    shell = capture_shell(parent)
    child = _unstarted_copy(parent)
    try:
        child.fork_info = _adopt(child, shell, _history(parent), parent.workspace_host,
                                 frozen=getattr(parent.sandbox, "frozen", None))
    except BaseException:
        child.close()
        raise
    return child


def snapshot(env: MLGymEnv, path: Path) -> Path:
    """Write the episode's state to the new folder ``path``: ``state.json`` (task, scale, seed, tools,
    history, shell state) and ``workspace/`` (a copy of the files). Returns ``path``."""
    if env.sandbox is None or env.workspace_host is None:
        raise MlgymError("snapshot() needs a live episode with a host workspace: call reset() first")
    if path.exists() and any(path.iterdir()):
        raise MlgymError(f"snapshot folder {path} exists and is not empty")
    shell = capture_shell(env)
    (path / "workspace").mkdir(parents=True, exist_ok=True)
    frozen = getattr(env.sandbox, "frozen", None)
    import contextlib

    with (frozen() if frozen is not None else contextlib.nullcontext()):
        how = copy_tree(env.workspace_host, path / "workspace")
    seed = next((ln.split("=", 1)[1].strip('"') for ln in shell["exported"].splitlines()
                 if ln.startswith("declare -x MLGYM_SEED=")), None)
    state = {"schema": SNAPSHOT_SCHEMA, "task": env.spec_task.qualified, "scale": env.task.scale,
             "seed": int(seed) if seed and seed.isdigit() else None, "max_steps": env.max_steps,
             "runtime": env.runtime_name, "tools": [t.qualified for t in env.tool_specs],
             "tool_options": env.tool_options, "workspace_copy": how, "history": _history(env), "shell": shell}
    (path / "state.json").write_text(json.dumps(state, indent=1, ensure_ascii=False), errors="surrogateescape")
    return path


def read_snapshot(path: Path) -> dict[str, Any]:
    f = path / "state.json"
    try:
        state = json.loads(f.read_text(errors="surrogateescape"))
    except (OSError, ValueError) as exc:
        raise MlgymError(f"{f}: not an episode snapshot ({exc})") from None
    if not isinstance(state, dict) or state.get("schema") != SNAPSHOT_SCHEMA or not (path / "workspace").is_dir():
        raise MlgymError(f"{path}: not an episode snapshot (expected state.json with schema "
                         f"{SNAPSHOT_SCHEMA!r} and a workspace/ folder)")
    return state


def restore_into(env: MLGymEnv, path: Path) -> tuple[str, dict[str, Any]]:
    """Make ``env`` continue the episode saved at ``path``; returns ``reset()``'s (observation, info)."""
    state = read_snapshot(path)
    if state["task"] != env.spec_task.qualified:
        raise MlgymError(f"{path}: the snapshot is of task '{state['task']}', not '{env.spec_task.qualified}'")
    t0 = time.perf_counter()
    info = _adopt(env, state["shell"], state["history"], path / "workspace")
    return env.task.description(), {
        "task_id": env.spec_task.id, "isolation": env.isolation, "workspace": WORKSPACE, "scale": env.task.scale,
        "step": env.current_step, "scores": env.scores, "exit_status": env.exit_status, "restored_from": str(path),
        "fork": info, "timings": {"reset_s": time.perf_counter() - t0}}


def restore(path: Path, **overrides: Any) -> MLGymEnv:
    """A new environment continuing the episode saved at ``path``, ready to step.

    ``overrides`` are ``MLGymEnv`` arguments (e.g. ``runtime``, ``work_dir``); task, scale, tools and
    max_steps come from the snapshot unless given."""
    from .env import MLGymEnv

    state = read_snapshot(path)
    kwargs: dict[str, Any] = {"task": state["task"], "scale": state["scale"], "max_steps": state["max_steps"],
                              "tools": state["tools"], "tool_options": state["tool_options"],
                              "runtime": state["runtime"], "prestart": False}
    kwargs.update(overrides)
    env = MLGymEnv(**kwargs)
    try:
        env.reset(options={"snapshot": str(path)})
    except BaseException:
        env.close()
        raise
    return env
