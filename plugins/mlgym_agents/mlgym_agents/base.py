"""What both agents share: options, templates, the state command, and a guarded model call.

A guarded call (:meth:`BaseAgent.query`) applies the agent-side limits of MLGym (reference 3.6):
input tokens over the model's window before the call -> ``exit_context``; a model error ->
its ``exit_action`` (``exit_api``, or ``exit_context`` for a context-length error); any other
runtime error -> ``exit_error``; cost at or over the per-episode limit after the call ->
``exit_cost``. Usage is added to the episode after every call, retries included.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from mlgym_core.errors import ConfigError
from mlgym_core.protocols import Completion, ModelError

from .commands import visible_tools
from .history import PROCESSORS
from .tokens import estimate_messages

DEFAULT_COST_LIMIT = 4.0
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ExitEpisode(Exception):
    """The loop must end with ``action`` (an MLGym exit action) sent to the environment.

    ``thought`` and ``response`` are what MLGym records for that exit ("Exit due to format error",
    "Exit due to cost limit", ...); ``reason`` is our fuller account, kept as the run's exit reason.
    The format exit records the last (unparsed) reply as its response, as MLGym does.
    """

    def __init__(self, action: str, reason: str, response: str = "") -> None:
        super().__init__(reason)
        self.action = action
        self.reason = reason
        self.thought, upstream_response = _mlgym_exit(action, reason)
        self.response = response if action == "exit_format" else upstream_response


def _mlgym_exit(action: str, reason: str) -> tuple[str, str]:
    """MLGym's (thought, response) pair for an exit action (reference 3.6)."""
    if action == "exit_format":
        return "Exit due to format error", ""
    if action == "exit_context":
        return "Exit due to context window", "Exit due to context window"
    if action == "exit_cost":
        return "Exit due to cost limit", "Exit due to cost limit"
    if action == "exit_error":
        return f"Exit due to runtime error: {reason}", f"exit due to runtime error: {reason}"
    return f"Exit due to unexpected error: {reason}", f"exit due to unexpected error: {reason}"


def fill(template: str, values: dict[str, Any]) -> str:
    """Replace ``{name}`` for known names; anything else (code braces included) stays as written."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def load_templates(package_file: str, override: str | None, inline: dict[str, Any]) -> dict[str, str]:
    data = yaml.safe_load((files("mlgym_agents") / "prompts" / package_file).read_text(encoding="utf-8"))
    if override:
        path = Path(override)
        try:
            extra = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"agent option templates={override}: cannot read: {exc}") from None
        if not isinstance(extra, dict):
            raise ConfigError(f"agent option templates={override}: expected a mapping of template name -> text")
        bad = sorted(set(extra) - set(data))
        if bad:
            raise ConfigError(f"{override}: unknown template(s) {', '.join(bad)}; known: {', '.join(sorted(data))}")
        data.update(extra)
    bad = sorted(set(inline) - set(data))
    if bad:
        raise ConfigError(f"unknown template option(s) {', '.join(bad)}; known: {', '.join(sorted(data))}")
    data.update(inline)
    return {k: str(v) for k, v in data.items()}


class BaseAgent:
    PROMPTS = "default.yaml"
    OPTIONS = ("memory", "literature", "templates", "history_processor", "max_input_tokens", "cost_limit",
               "max_format_retries", "state_timeout")

    def __init__(self, **options: Any) -> None:
        inline = {k: options.pop(k) for k in list(options) if k.endswith("_template") or k.endswith("_tip")}
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise ConfigError(f"agent option(s) {', '.join(unknown)} unknown; known: "
                              f"{', '.join(self.OPTIONS)} and any *_template / *_tip")
        self.templates = load_templates(self.PROMPTS, options.get("templates"), inline)
        self.memory_opt = options.get("memory")
        self.literature_opt = options.get("literature")
        hp = options.get("history_processor", "Last5Observations")
        if hp not in PROCESSORS:
            raise ConfigError(f"agent option history_processor={hp!r}: choose one of {', '.join(PROCESSORS)}")
        self.process_history = PROCESSORS[hp]
        self.max_input_tokens = options.get("max_input_tokens")
        self.cost_limit = options.get("cost_limit")
        self.max_format_retries = int(options.get("max_format_retries", 2))
        self.state_timeout = float(options.get("state_timeout", 10))

    # -- setup ------------------------------------------------------------------------------------
    def setup(self, episode: Any) -> None:
        self.episode = episode
        self.model = episode.model
        if self.model is None:
            raise ConfigError(f"agent '{type(self).__name__}' needs a model (--model BACKEND:NAME)")
        groups = {t.group for t in episode.tools}
        self.memory = self._flag(self.memory_opt, "memory", groups)
        self.literature = self._flag(self.literature_opt, "literature", groups)
        self.tools = visible_tools(episode.tools, memory=self.memory, literature=self.literature)
        self.has_state = any(t.name == "state" for t in episode.tools)
        limit = self.cost_limit if self.cost_limit is not None else episode.spec.cost_limit
        self.limit = DEFAULT_COST_LIMIT if limit is None else float(limit)
        window = self.max_input_tokens or getattr(self.model, "max_input_tokens", None)
        self.window = int(window) if window else None
        warnings = list(getattr(self.model, "warnings", []) or [])
        if warnings:
            episode.traj["info"].setdefault("warnings", []).extend(warnings)

    def _flag(self, value: Any, group: str, groups: set[str]) -> bool:
        if value is None:
            return group in groups  # on when its tools were installed (-o tools=[default,memory])
        on = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if on and group not in groups:
            raise ConfigError(f"agent option {group}=true needs the '{group}' tools: install mlgym-tools and add "
                              f"-o tools=[default,{group}]")
        return on

    def values(self, **extra: Any) -> dict[str, Any]:
        env = self.episode.env
        return {"WINDOW": 1000, "training_timeout": int(env.training_timeout),
                "extra_tips": (self.templates["memory_tip"] if self.memory else "")
                + (self.templates["literature_tip"] if self.literature else ""), **extra}

    # -- state and footer -------------------------------------------------------------------------
    def state(self) -> tuple[str, dict[str, Any]]:
        env = self.episode.env
        data: dict[str, Any] = {}
        if self.has_state and env.sandbox is not None:
            try:
                out = env.sandbox.run("state", self.state_timeout).output
                for line in reversed(out.strip().splitlines()):
                    if line.lstrip().startswith("{"):
                        data = json.loads(line)
                        break
            except Exception:  # a broken state command must not end the episode
                data = {}
        data.setdefault("open_file", "n/a")
        data.setdefault("working_dir", env.cwd)
        return json.dumps(data), data

    def footer(self, state: dict[str, Any]) -> str:
        env = self.episode.env
        mem = ""
        if self.memory:
            mem = fill(self.templates["memory_footer_template"], {
                "memory_records": state.get("memory_records_number", state.get("memory_records", 0)),
                "memory_keywords": state.get("memory_key_words", state.get("memory_keywords", "")) or "none yet"})
        return fill(self.templates["footer_template"], {
            "current_step": env.current_step, "remaining_steps": max(0, self.episode.max_steps - env.current_step),
            "open_file": state.get("open_file") or "n/a", "working_dir": state.get("working_dir") or env.cwd,
            "memory_footer": mem})

    # -- the guarded model call -------------------------------------------------------------------
    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Completion:
        if self.window:
            est = estimate_messages(messages, tools)
            if est > self.window:
                raise ExitEpisode("exit_context", f"the prompt (~{est} tokens) exceeds the model's input window "
                                                  f"({self.window} tokens)")
        try:
            c = self.model.complete(messages, tools=tools)
        except ModelError as exc:
            raise ExitEpisode(getattr(exc, "exit_action", "exit_api"), str(exc)) from exc
        except RuntimeError as exc:
            raise ExitEpisode("exit_error", f"{type(exc).__name__}: {exc}") from exc
        self.episode.add_usage(c.input_tokens, c.output_tokens, c.cost)
        total = self.episode.stats["total_cost"]
        if self.limit > 0 and total >= self.limit:
            raise ExitEpisode("exit_cost", f"cost ${total:.4f} reached the limit ${self.limit:.2f}", c.content or "")
        return c

    def exit(self, exc: ExitEpisode, state: str) -> None:
        """Send the exit action to the environment, which autosubmits and ends the episode."""
        self.episode.add_history("assistant", exc.response, thought=exc.thought, action=exc.action)
        self.episode.traj["info"].setdefault("exit_reason", exc.reason)
        self.episode.step(exc.action, thought=exc.thought, response=exc.response, state=state)
