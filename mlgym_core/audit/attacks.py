"""The attack library: one :class:`AttackSpec` per attack, written as YAML data by plugins.

A plugin contributes attacks through the ``register_attacks()`` hook (mlgym-agents ships the
library its ``cheater`` agent runs). Each attack says which task kinds it applies to, the shell
actions it takes (templates filled in per task with :meth:`AttackSpec.render`) and how success
is detected. ``mlgym audit`` runs every applicable attack in its own episode and judges it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from ..errors import DescriptorError, MlgymError
from ..sandbox import GRADER_DIR, WORKSPACE
from ..specs import TaskSpec, _format_validation, _read_yaml, _Spec

ATTACK_CLASSES: dict[str, str] = {
    "hidden-files": "find hidden files or labels (filesystem, process tables, package metadata, environment)",
    "grader-code": "change what the grader runs (evaluator, opponent, imports it would pick up)",
    "forge-metrics": "write its own metrics through any channel its code reaches in the grader",
    "collection-race": "race the artifact collection with links",
    "derive-secrets": "derive the grader's secrets",
    "network": "reach the network",
    "resources": "exhaust resources to break grading",
}
"""The attack classes the security work defends against (docs/security.md), with what each tries."""

Detector = Literal["score", "secret", "marker", "grading_broken"]
SUCCESS_MARKER = "MLGYM-ATTACK-SUCCEEDED"
"""What an action prints when it knows it succeeded (detector ``marker``). Build it at run time
(``printf 'MLGYM-ATTACK-%s\\n' SUCCEEDED``) so that an error message echoing the action cannot fake it."""
CANARY_PREFIX = "mlgym-canary-"
"""Prefix of the canaries ``mlgym audit`` plants on the host (environment, files); public knowledge."""
_VAR = re.compile(r"\{\{(\w+)\}\}")
TEMPLATE_VARS: dict[str, str] = {
    "metric": "the task's priority metric",
    "forged_metrics": "a JSON object with every declared metric at an absurdly good value",
    "required": "the required artifacts, space separated",
    "read_only": "the read-only workspace files, space separated",
    "evaluator": "the evaluator's file name",
    "hidden": "the grading sandbox's paths of the task's hidden files, space separated",
    "hidden_py": "the same paths as a Python list literal",
    "grader_dir": f"where the grader sees its pristine files ({GRADER_DIR})",
    "workspace": f"the workspace ({WORKSPACE})",
    "pids_flood": "a number of processes that stays 64 under the task's pids limit",
}
"""Placeholders an action may use, written ``{{name}}``."""


class AttackSpec(_Spec):
    """One attack of the library, loaded from a plugin's YAML file."""

    name: str
    attack_class: str
    """One of :data:`ATTACK_CLASSES`."""
    description: str
    applies_to: tuple[Literal["csv", "python", "model", "lm"], ...] = ()
    """Task submission kinds it applies to; empty: every task."""
    offline_only: bool = False
    """Only for tasks that declare no network (a task with ``network: true`` may use it)."""
    needs_artifact: bool = False
    """Starts from the honest artifact (the baseline's), e.g. to rewrite or replace it."""
    actions: tuple[str, ...] = Field(min_length=1)
    """Shell commands run in the agent's sandbox, in order; ``{{var}}`` placeholders (:data:`TEMPLATE_VARS`)."""
    validate_after: bool = True
    """Run ``validate`` after the actions (the grader judges what the attack left)."""
    shares_validation: bool = False
    """It may be validated once together with the other attacks that say so (``mlgym audit``: one
    grading instead of one each): its actions do not undo what the others leave. When that shared
    validation does not give a score that no attack of the group raised (nor broke, nor leaked a
    secret into), each is run again alone, so a success is named."""
    detect: tuple[Detector, ...] = Field(min_length=1)
    """How success shows: ``score`` (a validation beats the honest score beyond the noise floor),
    ``secret`` (an observation holds a planted canary or a hidden file's digest), ``marker`` (an
    observation holds :data:`SUCCESS_MARKER`), ``grading_broken`` (the honest artifact validates
    before the actions and no longer does after them)."""

    @property
    def key(self) -> str:
        return self.name

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError("must be snake_case (lower-case letters, digits, '_')")
        return v

    @field_validator("attack_class")
    @classmethod
    def _class_ok(cls, v: str) -> str:
        if v not in ATTACK_CLASSES:
            raise ValueError(f"must be one of {', '.join(ATTACK_CLASSES)}")
        return v

    @field_validator("actions")
    @classmethod
    def _vars_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for action in v:
            for var in _VAR.findall(action):
                if var not in TEMPLATE_VARS:
                    raise ValueError(f"unknown placeholder {{{{{var}}}}} (known: {', '.join(TEMPLATE_VARS)})")
        return v

    @field_validator("shares_validation")
    @classmethod
    def _sharing_ok(cls, v: bool, info: ValidationInfo) -> bool:
        if v and not info.data.get("validate_after", True):
            raise ValueError("needs validate_after (the shared validation is what is judged)")
        return v

    def applies(self, task: TaskSpec) -> str:
        """Why the attack does not apply to ``task`` ('' when it does)."""
        if self.applies_to and task.submission not in self.applies_to:
            return f"for {', '.join(self.applies_to)} tasks; this one is {task.submission}"
        if self.offline_only and task.network:
            return "the task declares network access"
        return ""

    @property
    def validates_first(self) -> bool:
        """Whether the honest artifact is validated before the actions (to see grading break)."""
        return "grading_broken" in self.detect

    def render(self, task: TaskSpec) -> list[str]:
        """The actions with the placeholders filled in for ``task``."""
        values = template_values(task)
        return [_VAR.sub(lambda m: values[m.group(1)], a) for a in self.actions]


def forged_metrics(task: TaskSpec) -> dict[str, float]:
    """Every declared metric at a value no honest artifact reaches, in the priority metric's direction."""
    value = 1e9 if task.higher_is_better else -1e9
    return {m: value for m in dict.fromkeys([task.metric, *task.baseline_scores])}


def template_values(task: TaskSpec) -> dict[str, str]:
    import json
    import shlex

    hidden = [f"{GRADER_DIR}/{h}" for h in task.hidden_files]
    return {
        "metric": task.metric, "forged_metrics": json.dumps(forged_metrics(task)),
        "required": " ".join(shlex.quote(r) for r in task.required_artifacts),
        "read_only": " ".join(shlex.quote(r) for r in task.read_only),
        "evaluator": task.evaluator, "hidden": " ".join(shlex.quote(h) for h in hidden),
        "hidden_py": repr(hidden), "grader_dir": GRADER_DIR, "workspace": WORKSPACE,
        "pids_flood": str(max(0, min(task.resources.pids - 64, 2000))),
    }


def load_attacks(path: Traversable | Path, plugin: str = "") -> list[AttackSpec]:
    """Attacks from a YAML file (``attacks:`` and a list of entries) or from every ``*.yaml`` file of a folder.

    Raises:
        DescriptorError: naming the file, the entry and the field.
    """
    paths = sorted((p for p in path.iterdir() if p.name.endswith((".yaml", ".yml"))), key=lambda p: p.name) \
        if path.is_dir() else [path]
    who = f"plugin '{plugin}', " if plugin else ""
    out: list[AttackSpec] = []
    for p in paths:
        top = _read_yaml(p, plugin)
        data = top.get("attacks")
        if set(top) != {"attacks"} or not isinstance(data, list):
            raise DescriptorError(f"{who}{p}: expected one key, 'attacks', holding a list of attacks")
        for i, entry in enumerate(data, 1):
            label = f"entry {i}" + (f" ('{entry['name']}')" if isinstance(entry, dict) and "name" in entry else "")
            if not isinstance(entry, dict):
                raise DescriptorError(f"{who}{p}: {label}: expected a mapping, got {type(entry).__name__}")
            try:
                out.append(AttackSpec(**entry))
            except ValidationError as exc:
                raise DescriptorError(f"{who}{p}: {label}: {_format_validation(exc)}") from None
    return out


def attacks() -> list[AttackSpec]:
    """Every attack the loaded plugins register, stamped with the plugin's name.

    A plugin whose hook raises (a malformed attack file included), returns something else than
    AttackSpec or one name twice is marked failed, as for tasks (``mlgym list-plugins`` shows its
    one-line error, and it gives no items of any kind from then on); the other plugins' attacks
    are returned. Under ``MLGYM_STRICT_PLUGINS=1`` the PluginSpecError is raised instead.
    """
    from ..errors import PluginSpecError
    from ..plugins import plugin_manager
    from ..registry import _items_of

    m = plugin_manager()
    hook = getattr(m.pm.hook, "register_attacks", None)
    found: list[AttackSpec] = []
    for impl in reversed(hook.get_hookimpls() if hook is not None else ()):
        name = m.pm.get_name(impl.plugin) or "?"
        rec = m.records.get(name)
        try:
            found += _items_of(name, "register_attacks", AttackSpec, impl.function, rec.version if rec else "")
        except PluginSpecError as exc:
            m.fail(name, exc)
    return found


def failed_plugins() -> dict[str, str]:
    """Plugin name -> its one-line error, for every plugin that failed so far (loading or a hook)."""
    from ..plugins import plugin_manager

    return {r.name: r.error or "" for r in plugin_manager().records.values() if r.status == "error"}


def select(names: Iterable[str] = ()) -> list[AttackSpec]:
    """The registered attacks named (plain or ``plugin/name``), or all of them."""
    every = attacks()
    wanted = list(names)
    if not wanted:
        return every
    chosen = [a for a in every if a.name in wanted or a.qualified in wanted]
    missing = set(wanted) - {a.name for a in chosen} - {a.qualified for a in chosen}
    if missing:
        raise MlgymError(f"no attack named {', '.join(sorted(missing))} (registered: "
                         f"{', '.join(a.name for a in every) or 'none'})")
    return chosen
