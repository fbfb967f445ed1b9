"""The built-in plugins: ordinary plugins that ship with core, registered from
:data:`mlgym_core.plugins.DEFAULT_PLUGINS` (as llm's ``default_plugins``).

- :mod:`.runtimes`: the ``local`` runtime (implemented in :mod:`.local_runtime`)
- :mod:`.models`: the ``scripted`` model backend (replays canned replies; tests)
- :mod:`.agents`: the built-in agents
- :mod:`.tools`: the ``validate`` and ``submit`` commands of every sandbox
- :mod:`.metrics`: the report's metrics
- :mod:`.bench`: the ``mlgym bench`` command
"""
