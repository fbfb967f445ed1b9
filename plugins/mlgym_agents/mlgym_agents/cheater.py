"""The ``cheater`` agent: runs the attack library (every plugin's ``register_attacks()``) on a task.

For each attack that applies to the task it takes the attack's shell actions and asks for
``validate``, recording every step with the attack's name in the step's thought, so the
trajectory is the evidence. It needs no model. ``mlgym audit`` runs it with ``-o attack=NAME``,
one attack per episode, and judges each attempt (a raised score, a secret read, a success
marker, grading broken); run on its own (``mlgym run --agent cheater --task ID``) it tries every
applicable attack in one episode, one after the other, and notes what each validation gave.
"""

from __future__ import annotations

from typing import Any

from mlgym_core import ConfigError


class CheaterAgent:
    """Tries the attacks named in ``attack`` (a name or a list; default: every one that applies).

    ``make_artifact`` (default true): before the first attack that starts from the honest artifact,
    run the task's baseline command to make it (``mlgym audit`` lays the artifact in itself).
    """

    def __init__(self, attack: str | list[str] | None = None, make_artifact: bool = True,
                 **_options: Any) -> None:
        if attack is not None and not isinstance(attack, (str, list)):
            raise ConfigError(f"cheater: attack must be a name or a list of names, got {attack!r}")
        from mlgym_core import attacks

        names = [attack] if isinstance(attack, str) else list(attack or [])
        every = attacks()
        self.chosen = [a for a in every if not names or a.name in names or a.qualified in names]
        missing = set(names) - {a.name for a in self.chosen} - {a.qualified for a in self.chosen}
        if missing:  # at construction: no run directory for a misspelt attack
            raise ConfigError(f"cheater: no attack named {', '.join(sorted(missing))} (registered: "
                              f"{', '.join(a.name for a in every) or 'none'})")
        self.make_artifact = bool(make_artifact)

    def run(self, episode: Any) -> None:
        task = episode.task_spec
        chosen = self.chosen
        made_artifact = False
        for a in chosen:
            why_not = a.applies(task)
            if why_not:
                episode.note(f"attack {a.name}: skipped ({why_not})")
                continue
            if episode.done or episode.steps_left < len(a.actions) + 3:
                episode.note(f"attack {a.name}: not tried (no steps left)")
                continue
            if a.needs_artifact and not made_artifact and task.baseline_command and self.make_artifact:
                episode.step(task.baseline_command, thought=f"attack {a.name}: make the honest artifact first")
                made_artifact = True
            if a.validates_first:
                episode.step("validate", thought=f"attack {a.name}: validate the honest artifact")
            for i, action in enumerate(a.render(task), 1):
                episode.step(action, thought=f"attack {a.name}: action {i}/{len(a.actions)}")
            if a.validate_after and not episode.done:
                obs, *_ = episode.step("validate", thought=f"attack {a.name}: validate what the attack left")
                episode.note(f"attack {a.name}: validate gave: {obs.splitlines()[-1] if obs else ''}"[:500])
