"""The gymnasium environment: one MLGym task, one sandbox, shell commands as actions.

Reward: 0, except on a successful evaluation, where it is the improvement of the task's
priority metric over the best score so far (the baseline score to begin with), in the
task's good direction, never negative. MLGym always returns 0.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from . import exits
from .actions import DEFAULT_SHORT_TIMEOUT, clean_output, is_long, with_heredocs
from .background import drain_cleaner, prestarter, teardown
from .errors import ConfigError, EvaluationFormatError, MlgymError, SandboxError, SubmissionNotFoundError
from .grading import grade
from .records import best_of
from .run_options import DEFAULT_MAX_STEPS
from .sandbox import WORKSPACE, SandboxConfig
from .services import start_services, wants_services
from .shell import ShellDied
from .specs import TaskSpec
from .task import Task, make_task
from .toolinstall import ToolInstall, select_tools
from .workspace import hidden_task_folders, lay_out

__all__ = ["MLGymEnv"]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise MlgymError(f"environment variable {name} must be a number, got {os.environ[name]!r}") from None


class MLGymEnv(gym.Env[str, str]):
    """A gymnasium environment over one task. Actions and observations are text."""

    metadata = {"render_modes": []}

    def __init__(self, task: str | TaskSpec, runtime: Any = "local", max_steps: int = DEFAULT_MAX_STEPS, *,
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
        self.tool_specs = select_tools(tools)
        self.tool_options = dict(tool_options or {})
        self._tools = ToolInstall(self.tool_specs)
        self._services: list[Any] = []
        self._spare: Any = None
        # Start the next episode's sandbox in the background (fresh workspace and sandbox, ready when
        # reset() is called); only for runtimes that say they are thread-safe, and not with services.
        self.prestart = bool(prestart and getattr(self.runtime, "prestart", False)
                             and not wants_services(self.tool_specs))
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
            self._spare = prestarter().submit(self._build_sandbox)
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
        return self._logged(action, self._step(action))

    def _logged(self, action: str, out: tuple[str, float, bool, bool, dict[str, Any]]) -> tuple[
            str, float, bool, bool, dict[str, Any]]:
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
        planned = self._shell_step(action)
        if planned is None:
            return self._other_step(action.strip(), time.perf_counter())
        command, timeout, t0 = planned
        try:
            res = self.sandbox.run(command, timeout)
        except (ShellDied, OSError) as exc:
            return self._shell_failed(exc, t0)
        return self._shell_result(res, t0)

    def _shell_step(self, action: str) -> tuple[str, float, float] | None:
        """Begin a step that only runs ``action`` in the shell: count it and return the command, its
        timeout and the step's start time. None (nothing changed, nothing counted) for any other step:
        an exit action, a step past ``max_steps``, an edit block without its end line.

        ``step`` is this, the sandbox's ``run`` and :meth:`_shell_result`; the vector env runs the
        shell command itself between the two, for many episodes at once."""
        if not isinstance(action, str):
            raise TypeError(f"step() takes a shell command as a str, got {type(action).__name__}: {action!r:.80}")
        if self._done:
            raise MlgymError("step() called on a finished episode; call reset() first")
        t0 = time.perf_counter()
        act = action.strip()
        if self.current_step >= self.max_steps or act in _NOT_SHELL:
            return None
        command, problem = with_heredocs(act, self._tools.end_names)
        if problem:
            return None
        self.current_step += 1
        return command, (self.training_timeout if is_long(act) else self.short_timeout), t0

    def _other_step(self, act: str, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.current_step += 1
        if self.current_step > self.max_steps:
            return self._forced(exits.MAX_STEPS, t0, truncated=True)
        if act == exits.SKIP:
            return self._end(exits.SKIPPED, "Skipped", t0)
        if act == exits.EXIT_FORFEIT:
            return self._end(exits.EXIT_FORFEIT, f"Exited ({exits.EXIT_FORFEIT})", t0)
        if act in exits.EXIT_ACTIONS:
            return self._forced(act, t0)
        return with_heredocs(act, self._tools.end_names)[1], 0.0, False, False, self._info(t0)

    def _shell_failed(self, exc: BaseException, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return self._end(exits.EARLY_EXIT, f"The sandbox failed: {exc}", t0)

    @staticmethod
    def _needs_grader(res: Any) -> bool:
        """Whether the step whose shell result is ``res`` goes on to the grader (a submit or a validate)."""
        return "<<SUBMISSION||" in res.output or "<<VALIDATION||" in res.output

    def _shell_result(self, res: Any, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """The rest of a step that ran a shell command (see :meth:`_shell_step`), from its result."""
        obs = clean_output(res.output)
        if res.cwd:
            self.cwd = res.cwd
        if "<<SUBMISSION||" in obs:
            return self._evaluate_end("submit", "Exited (submit)", exits.SUBMITTED, t0)
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
        drain_cleaner()
        self.task.close()
        self._tools.close()

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
            teardown(None, services, episode_dir, keep=self.keep_workspace, background=False)
            raise

    def _build_in(self, episode_dir: Path, services: list[Any], fill: Any = None) -> tuple[Any, Path, list[Any]]:
        ws = episode_dir / "workspace"
        ws.mkdir(parents=True)
        if fill is not None:
            fill(ws)
        else:
            lay_out(ws, self.task, self.spec_task, self.workspace_from)
        data = self.task.data_dir()
        services_dir = start_services(self.tool_specs, task_id=self.spec_task.id, episode_dir=episode_dir,
                                      options=self.tool_options, started=services)
        cfg = SandboxConfig(
            workspace=ws, ro_binds={f"{WORKSPACE}/data": data} if data is not None else {},
            read_only=self.spec_task.read_only, tools_dir=self._tools.dir, services_dir=services_dir,
            env={**self._tools.env(), "MLGYM_TASK_ID": self.spec_task.id, "MLGYM_SEED": "42"},
            init=self._tools.init_script(), network=self.spec_task.network, pids=self.spec_task.resources.pids,
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
        gain = abs(best_of((value, self.best), self.spec_task.higher_is_better) - self.best)  # 0 unless better
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
            status, obs = exits.submission_not_found(action), f"No valid submission was found ({action})."
        except EvaluationFormatError as exc:
            status, obs = exits.evaluation_format_error(action), str(exc)
        except MlgymError as exc:
            status, obs = exits.evaluation_error(exc, action), f"Error: {exc}"
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
        return self._evaluate_end(reason, f"Exited ({reason})", exits.autosubmission(reason), t0, truncated)

    def _end(self, status: str, obs: str, t0: float) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.exit_status = status
        self._done = True
        return obs, 0.0, True, False, self._info(t0)

    def _hidden_folders(self) -> tuple[Path, ...]:
        if self._hide is None:
            self._hide = hidden_task_folders(self.spec_task)
        return self._hide

    def _teardown_sandbox(self, background: bool = False) -> None:
        """Stop the sandbox and services, delete the episode folder. ``background``: the slow
        part (waiting for processes, removing files) happens in a thread, off reset's path."""
        sandbox, services, folder = self.sandbox, self._services, self._episode_dir
        self.sandbox, self._services, self._episode_dir = None, [], None
        teardown(sandbox, services, folder, keep=self.keep_workspace, background=background)


_NOT_SHELL = frozenset((exits.SKIP, exits.EXIT_FORFEIT, *exits.EXIT_ACTIONS))
_ANY = frozenset(chr(i) for i in range(32, 127)) | frozenset("\n\t")
