"""Importing this module registers a gymnasium environment ``mlgym/<taskId>`` for every installed task.

Gymnasium's idiom (1.0 dropped registration at package import)::

    import gymnasium as gym
    import mlgym_core.gym_envs

    gym.register_envs(mlgym_core.gym_envs)  # a no-op that keeps linters from dropping the import
    env = gym.make("mlgym/battleOfSexes")

``import mlgym_core`` alone registers nothing and loads no plugin. A plugin that fails to load or
to register its tasks is left out (see ``mlgym list-plugins``); the other plugins' tasks register.
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["register_envs"]


def register_envs() -> list[str]:
    """Register ``mlgym/<taskId>`` and ``mlgym/<plugin>.<taskId>`` for every installed task (again: a no-op).

    Returns the ids of every installed task's environments, registered now or before.
    """
    from .registry import collect

    ids = []
    for spec in collect("tasks"):
        for env_id in (f"mlgym/{spec.id}", f"mlgym/{spec.plugin}.{spec.id}"):
            ids.append(env_id)
            if env_id not in gym.registry:
                # nondeterministic: evaluations are noisy (the same code scores differently); info carries timings
                gym.register(id=env_id, entry_point="mlgym_core.env:MLGymEnv", kwargs={"task": spec.qualified},
                             disable_env_checker=True, nondeterministic=True)
    return ids


register_envs()
