"""What both agents share: options, templates, the shell state, and a guarded model call.

A guarded call (:meth:`BaseAgent.query`) applies the agent-side limits of MLGym (reference 3.6):
input tokens over the model's window before the call -> ``exit_context``; a model error ->
its ``exit_action`` (``exit_api``; ``exit_context`` for a context-length error; ``exit_cost`` when
core's metering refuses a call at the cost limit); any other runtime error -> ``exit_error``.
Core counts every call's tokens and cost (the episode's model is metered); the agents do not.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from mlgym_core import Completion, ConfigError, ModelError

from .commands import visible_tools
from .history import PROCESSORS
from .tokens import estimate_messages

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ExitEpisode(Exception):
    """The loop must end with ``action`` (an MLGym exit action) sent to the environment.

    ``reason`` is our fuller account, kept as the run's exit reason; the episode records MLGym's
    thought and response for the action ("Exit due to cost limit" ...). ``response`` is given for the
    format exit only: MLGym records the last (unparsed) reply there.
    """

    def __init__(self, action: str, reason: str, response: str | None = None) -> None:
        super().__init__(reason)
        self.action = action
        self.reason = reason
        self.response = response


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
    OPTIONS = ("memory", "literature", "templates", "history_processor", "max_input_tokens",
               "max_format_retries", "state_timeout")

    def __init__(self, **options: Any) -> None:
        inline = {k: options.pop(k) for k in list(options) if k.endswith("_template") or k.endswith("_tip")}
        if "cost_limit" in options:
            raise ConfigError("agent option cost_limit: the cost limit is a run option now, for every agent "
                              "(mlgym run --cost-limit USD)")
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
        window = self.max_input_tokens or getattr(self.model, "max_input_tokens", None)
        self.window = int(window) if window else None

    def _flag(self, value: Any, group: str, groups: set[str]) -> bool:
        if value is None:
            return group in groups  # on when its tools were installed (-o tools=[default,memory])
        on = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if on and group not in groups:
            raise ConfigError(f"agent option {group}=true needs the '{group}' tools: install mlgym-tools and add "
                              f"-o tools=[default,{group}]")
        return on

    def values(self, **extra: Any) -> dict[str, Any]:
        return {"WINDOW": 1000, "training_timeout": int(self.episode.training_timeout),
                "extra_tips": (self.templates["memory_tip"] if self.memory else "")
                + (self.templates["literature_tip"] if self.literature else ""), **extra}

    # -- state and footer -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The shell state (open file, working dir, memory), recorded with the next step."""
        return self.episode.read_state(self.state_timeout)

    def footer(self, state: dict[str, Any]) -> str:
        mem = ""
        if self.memory:
            mem = fill(self.templates["memory_footer_template"], {
                "memory_records": state.get("memory_records_number", state.get("memory_records", 0)),
                "memory_keywords": state.get("memory_key_words", state.get("memory_keywords", "")) or "none yet"})
        return fill(self.templates["footer_template"], {
            "current_step": self.episode.current_step, "remaining_steps": self.episode.steps_left,
            "open_file": state.get("open_file") or "n/a", "working_dir": state["working_dir"],
            "memory_footer": mem})

    # -- the guarded model call -------------------------------------------------------------------
    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Completion:
        if self.window:
            est = estimate_messages(messages, tools)
            if est > self.window:
                raise ExitEpisode("exit_context", f"the prompt (~{est} tokens) exceeds the model's input window "
                                                  f"({self.window} tokens)")
        try:
            return self.model.complete(messages, tools=tools)
        except ModelError as exc:
            raise ExitEpisode(getattr(exc, "exit_action", "exit_api"), str(exc)) from exc
        except RuntimeError as exc:
            raise ExitEpisode("exit_error", f"{type(exc).__name__}: {exc}") from exc

    def exit(self, exc: ExitEpisode) -> None:
        """Send the exit action to the environment, which autosubmits and ends the episode."""
        self.episode.exit(exc.action, exc.reason, response=exc.response)
