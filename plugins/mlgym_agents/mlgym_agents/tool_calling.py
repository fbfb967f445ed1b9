"""The ``tool-calling`` agent: the same tools and limits through native function calling.

The model gets one JSON-schema function per visible tool (derived from the tool docs) plus
``bash``. Each call becomes one command sent to ``episode.step`` (one environment step); the
calls of one reply run in the order given, and those left when the episode ends are answered
"not executed". A reply without a call, with malformed JSON arguments, an unknown function or
missing arguments is a format error: it is re-queried with the reasons (not saved to the
history), and the third consecutive failure ends the episode with ``exit_format``.
"""

from __future__ import annotations

import json
from typing import Any

from .base import BaseAgent, ExitEpisode, fill
from .commands import BASH_SCHEMA, CallError, call_to_command, tool_schema
from .openai_backend import parse_arguments


class ToolCallingAgent(BaseAgent):
    PROMPTS = "tool_calling.yaml"

    def run(self, episode: Any) -> None:
        self.setup(episode)
        self.by_name = {t.name: t for t in self.tools}
        self.schemas = [BASH_SCHEMA, *(tool_schema(t) for t in self.tools if t.name != "bash")]
        episode.add_message("system", fill(self.templates["system_template"], self.values()))
        state = self.state()
        episode.add_message("user", fill(self.templates["task_template"],
                                         self.values(description=episode.observation, footer=self.footer(state))))
        while not episode.done:
            try:
                content, calls = self.forward()
            except ExitEpisode as exc:
                self.exit(exc)
                return
            actions = [cmd for _, cmd in calls]
            episode.add_message("assistant", content, thought=content, action="\n".join(actions),
                                tool_calls=[c for c, _ in calls])
            results: list[tuple[str, str]] = []
            for i, (call, command) in enumerate(calls):
                if episode.done:
                    out = "Not executed: the episode had already ended."
                else:
                    if i:
                        self.state()
                    response = content + ("\n" if content else "") + json.dumps(call["function"])
                    obs = episode.step(command, thought=content, response=response)[0]
                    out = obs if obs.strip() else "Your command ran successfully and did not produce any output."
                results.append((call["id"], out))
            if not episode.done:  # the last result carries the footer
                state = self.state()
                call_id, out = results[-1]
                results[-1] = (call_id, fill(self.templates["next_step_template"],
                                             {"observation": out, "footer": self.footer(state)}))
            for call_id, out in results:
                episode.add_message("tool", out, tool_call_id=call_id)

    def _check(self, calls: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
        ok: list[tuple[dict[str, Any], str]] = []
        errors: list[str] = []
        for k, call in enumerate(calls):
            fn = call.get("function") or {}
            name = fn.get("name") or ""
            if not call.get("id"):
                call["id"] = f"call_{k}"
            try:
                args = parse_arguments(fn.get("arguments") or "")
            except ValueError as exc:
                errors.append(f"call {k + 1} ({name or '?'}): arguments are not valid JSON: {exc}")
                continue
            try:
                if name != "bash" and name not in self.by_name:
                    raise CallError(f"no function named '{name}'")
                ok.append((call, call_to_command(self.by_name.get(name) if name != "bash" else None, args)))
            except CallError as exc:
                errors.append(f"call {k + 1} ({name or '?'}): {exc}")
        return ok, errors

    def forward(self) -> tuple[str, list[tuple[dict[str, Any], str]]]:
        messages = self.process_history(self.episode.history)
        c = self.query(messages, self.schemas)
        fails = 0
        while True:
            calls = [dict(x, function=dict(x.get("function") or {})) for x in c.tool_calls]
            ok, errors = self._check(calls)
            if calls and not errors:
                return c.content, ok
            reason = "; ".join(errors) if errors else "the reply called no function"
            fails += 1
            if fails > self.max_format_retries:
                raw = c.content + ("\n" + json.dumps(calls) if calls else "")
                raise ExitEpisode("exit_format", f"{fails} consecutive replies without a usable call ({reason})", raw)
            retry = [*messages, {"role": "assistant", "content": c.content or "",
                                 **({"tool_calls": calls} if calls else {})}]
            for call in calls:
                retry.append({"role": "tool", "tool_call_id": call["id"], "content": f"Not executed: {reason}"})
            retry.append({"role": "user", "content": fill(self.templates["format_error_template"],
                                                          {"reason": reason})})
            c = self.query(retry, self.schemas)
