"""mlgym-runtimes: the ``docker`` runtime, ``mlgym image build`` and ``mlgym gc``."""

__version__ = "0.1.0"
