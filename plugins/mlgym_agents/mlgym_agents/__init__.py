"""mlgym agents: MLGym's research agent, a tool-calling agent and the ``openai`` model backend."""

__version__ = "0.1.0"
