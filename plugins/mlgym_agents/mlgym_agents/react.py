"""The ``default`` agent: MLGym's research agent (reference section 3), rebuilt.

One loop step: run the ``state`` command, append the observation message (task template on the
first step, the no-output template after a silent command, else the next-step template), query
the model on the processed history, parse DISCUSSION + one fenced command, and send the command
to ``episode.step``. Unparsable replies are re-queried with the format-error template (that
exchange is not saved to the history). As in MLGym, a reply is re-queried while at most two
failures came before it, so the model is called four times before the action becomes
``exit_format`` (thought "Exit due to format error"; the fourth reply is recorded unparsed).
Limits are applied by :meth:`BaseAgent.query`.
"""

from __future__ import annotations

from typing import Any

from .base import BaseAgent, ExitEpisode, fill
from .commands import render_docs
from .parsing import FormatError, parse_thought_action


class DefaultAgent(BaseAgent):
    PROMPTS = "default.yaml"

    def system_message(self) -> str:
        return fill(self.templates["system_template"], self.values(command_docs=render_docs(self.tools)))

    def run(self, episode: Any) -> None:
        self.setup(episode)
        episode.add_message("system", self.system_message())
        first = True
        while not episode.done:
            state = self.state()
            footer = self.footer(state)
            if first:
                content = fill(self.templates["task_template"],
                               self.values(description=episode.observation, footer=footer))
                first = False
            elif not episode.observation.strip():
                content = fill(self.templates["next_step_no_output_template"], {"footer": footer})
            else:
                content = fill(self.templates["next_step_template"],
                               {"observation": episode.observation, "footer": footer})
            episode.add_message("user", content)
            try:
                response, thought, action = self.forward()
            except ExitEpisode as exc:
                self.exit(exc)
                return
            episode.add_message("assistant", response, thought=thought, action=action)
            episode.step(action, thought=thought, response=response)

    def forward(self) -> tuple[str, str, str]:
        """Query and parse, re-querying on format errors; returns (response, thought, action)."""
        messages = self.process_history(self.episode.history)
        c = self.query(messages)
        fails = 0
        error = ""
        while fails <= self.max_format_retries:
            try:
                thought, action = parse_thought_action(c.content)
                return c.content, thought, action
            except FormatError as exc:
                fails += 1
                error = str(exc)
            retry = [*messages, {"role": "assistant", "content": c.content},
                     {"role": "user", "content": self.templates["format_error_template"]}]
            c = self.query(retry)
        raise ExitEpisode("exit_format", f"{fails} consecutive unparsable replies (the last: {error}); "
                                         "the reply after them was not parsed", c.content)
