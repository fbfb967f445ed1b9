"""The ``cheater`` agent: runs the attack library (every plugin's ``register_attacks()``) on a task.

For each attack that applies to the task it takes the attack's shell actions and asks for
``validate``, recording every step with the attack's name in the step's thought, so the
trajectory is the evidence. It needs no model. ``mlgym audit`` runs it with ``-o attack=NAME``,
one attack per episode (or the attacks that share a validation together, ``share_validation``),
and judges each attempt (a raised score, a secret read, a success marker, grading broken); run on
its own (``mlgym run --agent cheater --task ID``) it tries every applicable attack in one episode,
one after the other, and notes what each validation gave.
"""

from __future__ import annotations

from typing import Any

from mlgym_core import ConfigError


class CheaterAgent:
    """Tries the attacks named in ``attack`` (a name or a list; default: every one that applies).

    ``make_artifact`` (default true): before the first attack that starts from the honest artifact,
    run the task's baseline command to make it (``mlgym audit`` lays the artifact in itself).
    ``validate_honest`` (default true): validate the honest artifact before an attack that detects
    broken grading (``mlgym audit`` knows from its baseline runs that the honest artifact grades).
    ``share_validation`` (default false): first take the actions of every attack that declares
    ``shares_validation``, one after the other, and validate once for all of them.
    """

    def __init__(self, attack: str | list[str] | None = None, make_artifact: bool = True,
                 validate_honest: bool = True, share_validation: bool = False, **_options: Any) -> None:
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
        self.validate_honest = bool(validate_honest)
        self.share_validation = bool(share_validation)
        self._made_artifact = False

    def run(self, episode: Any) -> None:
        task = episode.task_spec
        ready = []
        for a in self.chosen:
            why_not = a.applies(task)
            if why_not:
                episode.note(f"attack {a.name}: skipped ({why_not})")
            else:
                ready.append(a)
        shared = [a for a in ready if self.share_validation and a.shares_validation]
        if shared:
            self._attack(episode, shared)
        for a in ready:
            if a not in shared:
                self._attack(episode, [a])

    def _attack(self, episode: Any, group: list[Any]) -> None:
        """Take the actions of ``group`` (one attack, or several that share one validation), then validate."""
        task = episode.task_spec
        label = f"attack {group[0].name}" if len(group) == 1 else f"attacks {', '.join(a.name for a in group)}"
        needed = sum(len(a.actions) for a in group) + 3
        if episode.done or episode.steps_left < needed:
            episode.note(f"{label}: not tried (no steps left)")
            return
        if any(a.needs_artifact for a in group) and not self._made_artifact and task.baseline_command \
                and self.make_artifact:
            episode.step(task.baseline_command, thought=f"{label}: make the honest artifact first")
            self._made_artifact = True
        if self.validate_honest and any(a.validates_first for a in group):
            episode.step("validate", thought=f"{label}: validate the honest artifact")
        for a in group:
            for i, action in enumerate(a.render(task), 1):
                episode.step(action, thought=f"attack {a.name}: action {i}/{len(a.actions)}")
        if any(a.validate_after for a in group) and not episode.done:
            obs, *_ = episode.step("validate", thought=f"{label}: validate what the attack"
                                   f"{'s' if len(group) > 1 else ''} left")
            episode.note(f"{label}: validate gave: {obs.splitlines()[-1] if obs else ''}"[:500])
