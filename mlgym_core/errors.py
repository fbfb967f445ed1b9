"""Exceptions raised by mlgym. Every one is an ``MlgymError`` with a one-line message."""

from __future__ import annotations


class MlgymError(Exception):
    """Base class of every error mlgym raises on purpose."""


class PluginLoadError(MlgymError):
    """A plugin failed to import or register (strict mode only)."""


class PluginSpecError(MlgymError):
    """A plugin returned something that is not a valid spec."""


class DescriptorError(MlgymError):
    """A task or dataset YAML descriptor is invalid."""


class UnknownNameError(MlgymError, LookupError):
    """No item of that kind has that name."""


class AmbiguousNameError(MlgymError, LookupError):
    """An unqualified name matches items from several plugins."""


class CheckError(MlgymError):
    """A conformance check of a spec failed."""


class SandboxError(MlgymError):
    """A sandbox could not start or died."""


class SubmissionNotFoundError(MlgymError):
    """The artifact the task expects is not in the workspace."""


class EvaluationFormatError(MlgymError):
    """The evaluator's output held no parsable metrics JSON."""


class ConfigError(MlgymError):
    """A run configuration is invalid."""
