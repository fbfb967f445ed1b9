"""The gymnasium environment: one MLGym task, one sandbox, shell commands as actions.

Reward: 0, except on a successful evaluation, where it is the improvement of the task's
priority metric over the best score so far (the baseline score to begin with), in the
task's good direction, never negative. MLGym always returns 0.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import queue
import re
import shutil
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from .errors import ConfigError, EvaluationFormatError, MlgymError, SandboxError, SubmissionNotFoundError
from .grading import grade
from .sandbox import SERVICES_DIR, TOOLS_DIR, WORKSPACE, SandboxConfig
from .shell import ShellDied
from .specs import TaskSpec, ToolSpec
from .task import Task, make_task

LONG_COMMANDS = ("torchrun", "python", "python3", "accelerate", "deepspeed")
EXIT_ACTIONS = ("exit_context", "exit_cost", "exit_error", "exit_format", "exit_api")
DEFAULT_SHORT_TIMEOUT = 25.0
_TQDM_LINE = re.compile(r"(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])")


def clean_output(text: str) -> str:
    """A command's output as MLGym shows it: CRLF read as LF, then every empty line and every
    tqdm progress-bar line dropped (so no trailing newline is left)."""
    lines = text.replace("\r\n", "\n").splitlines()
    return "\n".join(ln for ln in lines if ln and not _TQDM_LINE.search(ln))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise MlgymError(f"environment variable {name} must be a number, got {os.environ[name]!r}") from None


class MLGymEnv(gym.Env[str, str]):
    """A gymnasium environment over one task. Actions and observations are text."""

    metadata = {"render_modes": []}

    def __init__(self, task: str | TaskSpec, runtime: Any = "local", max_steps: int = 50, *,
                 scale: str = "default", tools: Sequence[str] | None = None, tool_options: dict | None = None,
                 short_timeout: float | None = None, training_timeout: float | None = None,
                 output_cap: int = 100_000, devices: Sequence[str] = (), workspace_from: str | Path | None = None,
                 work_dir: str | Path | None = None, keep_workspace: bool = False, prestart: bool = True,
                 reward_noise: float = 0.0, render_mode: None = None, resume_from: str | Path | None = None):
        self._init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "resume_from")}  # for fork()
        from .registry import get_runtime, get_task

        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ConfigError(f"max_steps must be a positive integer, got {max_steps!r}")
        self.spec_task: TaskSpec = get_task(task) if isinstance(task, str) else task
        self.task: Task = make_task(self.spec_task, scale)
        if isinstance(runtime, str):
            self.runtime_name = runtime
            self.runtime = get_runtime(runtime).factory()
        else:
            self.runtime_name = getattr(runtime, "name", type(runtime).__name__)
            self.runtime = runtime
        self.max_steps = max_steps
        self.reward_noise = float(reward_noise or 0.0)
        if self.reward_noise < 0:
            raise MlgymError(f"reward_noise must be >= 0, got {reward_noise!r}")
        self.short_timeout = short_timeout or _env_float("MLGYM_SHORT_TIMEOUT", DEFAULT_SHORT_TIMEOUT)
        self.training_timeout = training_timeout or _env_float(
            "MLGYM_TRAINING_TIMEOUT", self.spec_task.training_timeout)
        self.output_cap = output_cap
        self.devices = tuple(devices)
        self.workspace_from = Path(workspace_from) if workspace_from else None
        if self.workspace_from is not None and not self.workspace_from.is_dir():
            raise MlgymError(f"--workspace-from {self.workspace_from}: not a directory")
        self.work_root = Path(work_dir or os.environ.get("MLGYM_WORK_DIR") or
                              Path(tempfile.gettempdir()) / f"mlgym-work-{os.getuid()}")
        self.keep_workspace = keep_workspace
        self.tool_specs = _select_tools(tools)
        self.tool_options = dict(tool_options or {})
        self._end_names = {t.name: t.end_name for t in self.tool_specs if t.end_name}
        self._tools_dir: Path | None = None
        self._services: list[Any] = []
        self._spare: Any = None
        # Start the next episode's sandbox in the background (fresh workspace and sandbox, ready when
        # reset() is called); only for runtimes that say they are thread-safe, and not with services.
        self.prestart = bool(prestart and getattr(self.runtime, "prestart", False)
                             and not any(t.service is not None for t in self.tool_specs))
        self._hide: tuple[Path, ...] | None = None
        self.sandbox: Any = None
        self._episode_dir: Path | None = None
        self._done = True
        # readable before the first reset() completes (a failing prepare() must not hide its error)
        self.exit_status = ""
        self.scores: list[dict[str, float]] = []
        self.submission: str | None = None
        self.history: list[dict[str, Any]] = []
        """The episode's steps so far: action, observation, reward (carried by ``fork`` and ``snapshot``)."""
        self._resume_from = Path(resume_from) if resume_from else None
        self.fork_info: dict[str, Any] | None = None
        """Set on an episode made by ``fork()``: how its workspace was copied (``reflink`` or ``copy``), seconds."""
        self.action_space = gym.spaces.Text(max_length=1_000_000, charset=_ANY)
        self.observation_space = gym.spaces.Text(max_length=10_000_000, charset=_ANY)

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        snapshot = (options or {}).get("snapshot") or self._resume_from
        if snapshot:  # continue a saved episode instead of starting a fresh one
            from .fork import restore_into

            self._resume_from = None
            return restore_into(self, Path(snapshot))
        t0 = time.perf_counter()
        self._done = True
        self._teardown_sandbox(background=True)
        spare, self._spare = self._spare, None
        built = None
        if spare is not None:
            try:
                built = spare.result()
            except Exception:
                built = None  # a failed prestart: start cold below, which reports the error
        try:
            if built is None:
                built = self._build_sandbox()
            self.sandbox, self._episode_dir, self._services = built
            if seed is not None:
                self.sandbox.run(f"export MLGYM_SEED={int(seed)}", self.short_timeout)
        except BaseException:
            self._teardown_sandbox()  # a failed reset leaves no process, service or episode folder behind
            raise
        if self.prestart:
            self._spare = _prestarter().submit(self._build_sandbox)
        self.current_step = 0
        self.scores = []
        self.history = []
        self.baseline = self.spec_task.baseline_for(self.task.scale)  # the baseline of the scale that runs
        self.best: float | None = self.baseline.get(self.spec_task.metric)
        self.exit_status = ""
        self.submission = None
        self.cwd = WORKSPACE
        self._done = False
        self._t_reset = time.perf_counter() - t0
        return self.task.description(), {
            "task_id": self.spec_task.id, "isolation": self.isolation, "workspace": WORKSPACE,
            "scale": self.task.scale, "step": 0, "scores": [], "exit_status": "",
            "timings": {"reset_s": self._t_reset}}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        out = self._step(action)
        self.history.append({"action": action, "observation": out[0], "reward": out[1]})
        return out

    def fork(self) -> MLGymEnv:
        """A new, independent episode equal to this one now: workspace (copy-on-write where the
        filesystem allows), shell state (cwd, exported variables, functions, aliases) and history.
        Background processes are not carried. See :mod:`mlgym_core.fork`."""
        from .fork import fork

        return fork(self)

    def snapshot(self, path: str | Path) -> Path:
        """Write this episode's state to the folder ``path`` (:meth:`restore` reads it back)."""
        from .fork import snapshot

        return snapshot(self, Path(path))

    @classmethod
    def restore(cls, path: str | Path, **overrides: Any) -> MLGymEnv:
        """A new environment continuing the episode saved at ``path`` (already reset: ready to step)."""
        from .fork import restore

        return restore(Path(path), **overrides)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"step() takes a shell command as a str, got {type(action).__name__}: {action!r:.80}")
        if self._done:
            raise MlgymError("step() called on a finished episode; call reset() first")
        t0 = time.perf_counter()
        self.current_step += 1
        act = action.strip()
        if self.current_step > self.max_steps:
            return self._forced("max_steps", t0, truncated=True)
        if act == "skip":
            return self._end("skipped", "Skipped", t0)
        if act == "exit_forfeit":
            return self._end("exit_forfeit", "Exited (exit_forfeit)", t0)
        if act in EXIT_ACTIONS:
            return self._forced(act, t0)
        command, problem = self._prepare_command(act)
        if problem:
            return problem, 0.0, False, False, self._info(t0)
        timeout = self.training_timeout if any(k in act for k in LONG_COMMANDS) else self.short_timeout
        try:
            res = self.sandbox.run(command, timeout)
        except (ShellDied, OSError) as exc:
            return self._end("early_exit", f"The sandbox failed: {exc}", t0)
        obs = clean_output(res.output)
        if res.cwd:
            self.cwd = res.cwd
        if "<<SUBMISSION||" in obs:
            return self._evaluate_end("submit", "Exited (submit)", "submitted", t0)
        if "<<VALIDATION||" in obs:
            return self._validate(t0)
        return obs, 0.0, False, False, self._info(t0, res.returncode)

    def close(self) -> None:
        self._teardown_sandbox()
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                self.sandbox, self._episode_dir, self._services = spare.result()
            except Exception:
                pass
            self._teardown_sandbox()
        _cleaner().join()
        self.task.close()
        if self._tools_dir is not None:
            shutil.rmtree(self._tools_dir, ignore_errors=True)
            self._tools_dir = None

    # -- internals -----------------------------------------------------------------------
    def _build_sandbox(self, fill: Any = None) -> tuple[Any, Path, list[Any]]:
        """A fresh episode folder and workspace with the starter files (or what ``fill(workspace)``
        puts there: a fork's copy), and a started sandbox.

        If anything fails, the services started and the episode folder are removed before the error
        goes on (a runtime's ``start`` cleans up after itself)."""
        self.task.prepare()
        episode_dir = self.work_root / uuid.uuid4().hex[:16]
        services: list[Any] = []
        try:
            return self._build_in(episode_dir, services, fill)
        except BaseException:
            for svc in services:
                try:
                    svc.close()
                except Exception:
                    pass
            if not self.keep_workspace:
                from .grading import _rmtree

                _rmtree(episode_dir)
            raise

    def _build_in(self, episode_dir: Path, services: list[Any], fill: Any = None) -> tuple[Any, Path, list[Any]]:
        ws = episode_dir / "workspace"
        ws.mkdir(parents=True)
        if fill is not None:
            fill(ws)
        else:
            self.task.layout_workspace(ws)
            for rel in self.spec_task.read_only:  # MLGym chmods them 555, so `ls` shows `evaluate.py*`
                if (ws / rel).is_file():
                    (ws / rel).chmod(0o555)
            if self.workspace_from is not None:
                shutil.copytree(self.workspace_from, ws, dirs_exist_ok=True)
        data = self.task.data_dir()
        services_dir = self._start_services(episode_dir, services)
        cfg = SandboxConfig(
            workspace=ws, ro_binds={f"{WORKSPACE}/data": data} if data is not None else {},
            read_only=self.spec_task.read_only, tools_dir=self._tools(), services_dir=services_dir,
            env={"MLGYM_TASK_ID": self.spec_task.id, "MLGYM_SEED": "42", "WINDOW": "1000", "OVERLAP": "2"},
            init=self._init_script(), network=self.spec_task.network, pids=self.spec_task.resources.pids,
            memory_gb=self.spec_task.resources.memory_gb, cpus=self.spec_task.resources.cpus,
            devices=self.devices, output_cap=self.output_cap, hide=self._hidden_folders(),
            labels={"mlgym.task": self.spec_task.id})
        try:
            return self.runtime.start(cfg), episode_dir, services
        except ShellDied as exc:
            raise SandboxError(f"{self.runtime_name} sandbox for '{self.spec_task.id}' failed to start: "
                               f"{exc}") from exc

    @property
    def isolation(self) -> str:
        return getattr(self.sandbox, "isolation", None) or getattr(self.runtime, "isolation", "unknown")

    @property
    def workspace_host(self) -> Path | None:
        return getattr(self.sandbox, "workspace_host", None)

    def _info(self, t0: float, returncode: int | None = None, **extra: Any) -> dict[str, Any]:
        info = {"step": self.current_step, "scores": self.scores, "exit_status": self.exit_status,
                "submission": self.submission, "cwd": self.cwd, "returncode": returncode,
                "timings": {"step_s": time.perf_counter() - t0}}
        if extra:
            info.update(extra)
        return info

    def _prepare_command(self, act: str) -> tuple[str, str]:
        """Turn every multi-line command block (``edit a:b`` ... ``end_of_edit``), on any line of
        the action, into a here-document, as MLGym does; an action that starts such a block
        without its end line is refused unrun."""
        if not self._end_names:
            return act, ""
        lines = act.split("\n")
        i = 0
        while i < len(lines):
            words = lines[i].split(None, 1)
            end = self._end_names.get(words[0]) if words else None
            if end is not None:
                close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == end), None)
                if close is None and i == 0:
                    return "", (f"Malformed {words[0]} command. Please ensure you use the `{end}` keyword to mark "
                                f"the end of your {words[0]}.")
                if close is not None:  # (a later line that merely starts with the word runs as written)
                    lines[i] = f"{lines[i].rstrip()} << '{end}'"
                    lines[close] = end
                    i = close
            i += 1
        return "\n".join(lines), ""

    def _run_grader(self) -> tuple[dict[str, float], str]:
        ws = self.workspace_host
        if ws is None:
            raise MlgymError(f"runtime '{self.runtime_name}' gave no host workspace to grade")
        return grade(self.task, self.runtime, ws, devices=self.devices, hide=self._hidden_folders(),
                     freeze=getattr(self.sandbox, "frozen", None))

    def _record(self, metrics: dict[str, float]) -> float:
        self.scores.append(metrics)
        value = metrics.get(self.spec_task.metric)
        if value is None:
            return 0.0
        if self.best is None:
            self.best = value
            return 0.0
        gain = (value - self.best) if self.spec_task.higher_is_better else (self.best - value)
        if gain > 0 and gain >= self.reward_noise:  # a smaller gain is evaluator noise: no reward, best kept
            self.best = value
            return gain
        return 0.0

    def _validate(self, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        t_eval = time.perf_counter()
        reward = 0.0
        try:
            metrics, path = self._run_grader()
        except SubmissionNotFoundError as exc:
            obs = str(exc)
        except EvaluationFormatError as exc:
            obs = str(exc)
        except MlgymError as exc:
            obs = f"Error: {exc}"
        else:
            reward = self._record(metrics)
            obs = (f"Your code produced a valid submission artefact at {path}.\n"
                   f"Baseline Score: {self.baseline}\nEvaluation Score: {metrics}")
        info = self._info(t0)
        info["timings"]["eval_s"] = time.perf_counter() - t_eval
        return obs, reward, False, False, info

    def _evaluate_end(self, action: str, ok_obs: str, ok_status: str, t0: float,
                      truncated: bool = False) -> tuple[str, float, bool, bool, dict[str, Any]]:
        t_eval = time.perf_counter()
        reward = 0.0
        try:
            metrics, path = self._run_grader()
        except SubmissionNotFoundError:
            status, obs = f"submission_not_found ({action})", f"No valid submission was found ({action})."
        except EvaluationFormatError as exc:
            status, obs = f"evaluation_format_error ({action})", str(exc)
        except MlgymError as exc:
            status, obs = f"{type(exc).__name__}, {exc}, ({action})", f"Error: {exc}"
        else:
            reward = self._record(metrics)
            self.submission = path
            status, obs = ok_status, ok_obs
        self.exit_status = status
        self._done = True
        info = self._info(t0)
        info["timings"]["eval_s"] = time.perf_counter() - t_eval
        return obs, reward, not truncated, truncated, info

    def _forced(self, reason: str, t0: float, truncated: bool = False) -> tuple[str, float, bool, bool, dict]:
        return self._evaluate_end(reason, f"Exited ({reason})", f"autosubmission ({reason})", t0, truncated)

    def _end(self, status: str, obs: str, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.exit_status = status
        self._done = True
        return obs, 0.0, True, False, self._info(t0)

    def _tools(self) -> Path:
        """Install the tool files once per environment into a folder mounted read-only."""
        if self._tools_dir is None:
            digest = hashlib.sha1(",".join(sorted(t.qualified for t in self.tool_specs)).encode()).hexdigest()[:10]
            d = Path(tempfile.mkdtemp(prefix=f"mlgym-tools-{digest}-"))
            for t in self.tool_specs:
                for src in (t.source, *t.extra_files):
                    if src is None:
                        continue
                    name = Path(str(src)).name
                    if not name.endswith(".sh") and not name.startswith("_"):
                        name = Path(name).stem  # executables are called by their stem, as in MLGym
                    dst = d / name
                    if not dst.exists():
                        dst.write_bytes(src.read_bytes())
                        if not dst.name.endswith(".sh"):
                            dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            self._tools_dir = d
        return self._tools_dir

    def _init_script(self) -> str:
        d = self._tools()
        lines = [f"cd {WORKSPACE} 2>/dev/null || true"]
        for f in sorted(d.iterdir()):
            if f.name.endswith(".sh"):
                lines.append(f"source {TOOLS_DIR}/{f.name}")
        return "\n".join(lines)

    def _start_services(self, episode_dir: Path, services: list[Any]) -> Path | None:
        wanted = [t for t in self.tool_specs if t.service is not None]
        if not wanted:
            return None
        sdir = episode_dir / "services"
        sdir.mkdir()
        started: set[int] = set()
        for t in wanted:
            if id(t.service) in started:
                continue
            started.add(id(t.service))
            services.append(t.service(task_id=self.spec_task.id, socket_dir=sdir, sandbox_dir=SERVICES_DIR,
                                      options=self.tool_options))
        return sdir

    def _hidden_folders(self) -> tuple[Path, ...]:
        if self._hide is None:
            from .registry import collect

            hide = []
            try:
                for spec in collect("tasks"):
                    if spec.files is not None and isinstance(spec.files, Path):
                        hide.append(spec.files)
            except MlgymError:
                hide.append(Path(str(self.spec_task.files)))
            self._hide = tuple(hide)
        return self._hide

    def _teardown_sandbox(self, background: bool = False) -> None:
        """Stop the sandbox and services, delete the episode folder. ``background``: the slow
        part (waiting for processes, removing files) happens in a thread, off reset's path."""
        sandbox, services, folder = self.sandbox, self._services, self._episode_dir
        self.sandbox, self._services, self._episode_dir = None, [], None
        if sandbox is None and not services and folder is None:
            return
        keep = self.keep_workspace

        def work() -> None:
            from .grading import _rmtree

            for item in (sandbox, *services):
                if item is None:
                    continue
                try:
                    item.close()
                except Exception:
                    pass
            if folder is not None and not keep:
                _rmtree(folder)

        if background:
            _cleaner().put(work)
        else:
            work()


_CLEANER: queue.Queue[Any] | None = None
_CLEANER_LOCK = threading.Lock()


def _cleaner() -> queue.Queue[Any]:
    """One background thread that runs teardown jobs in order (kept off reset's hot path)."""
    global _CLEANER
    with _CLEANER_LOCK:
        if _CLEANER is None:
            q: queue.Queue[Any] = queue.Queue()

            def loop() -> None:
                while True:
                    job = q.get()
                    try:
                        job()
                    except Exception:
                        pass
                    finally:
                        q.task_done()

            threading.Thread(target=loop, name="mlgym-teardown", daemon=True).start()
            _CLEANER = q
        return _CLEANER


_PRESTARTER: Any = None


def _prestarter() -> Any:
    global _PRESTARTER
    with _CLEANER_LOCK:
        if _PRESTARTER is None:
            from concurrent.futures import ThreadPoolExecutor

            _PRESTARTER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlgym-prestart")
        return _PRESTARTER


def _drain_cleaner() -> None:
    if _CLEANER is not None:
        _CLEANER.join()


atexit.register(_drain_cleaner)

_ANY = frozenset(chr(i) for i in range(32, 127)) | frozenset("\n\t")


def _select_tools(tools: Sequence[str] | None) -> list[ToolSpec]:
    """Tool specs by group or name; core's validate/submit are always included."""
    from .registry import collect

    all_tools = collect("tools")
    wanted = set(tools or ())
    chosen = [t for t in all_tools if t.group == "core" or t.group in wanted or t.name in wanted
              or t.qualified in wanted]
    unknown = wanted - {t.group for t in all_tools} - {t.name for t in all_tools} - {t.qualified for t in all_tools}
    if unknown:
        from .registry import get_tool

        for name in sorted(unknown):
            get_tool(name)  # raises UnknownNameError with a suggestion
    return chosen
