"""One error tree for mulligan.

Errors are sorted by who caused them. Failures of the model or the environment during an
episode are *data*: the runner records them on the trajectory and goes on. Errors raised to the
user (bad configuration, missing packages, broken files) say what to do about them.
"""

from __future__ import annotations


class MulliganError(Exception):
    """Base class of every error mulligan raises on purpose."""


class ConfigError(MulliganError, ValueError):
    """A bad option, spec string or name given by the user."""


class DependencyNotInstalled(MulliganError, ImportError):
    """An optional package is missing; the message carries the pip line that installs it."""

    def __init__(self, package: str, extra: str, why: str = ""):
        self.package = package
        self.extra = extra
        hint = f'pip install "mulligan[{extra}]"'
        super().__init__(f"{package} is not installed{(' (' + why + ')') if why else ''}. Install it with: {hint}")


class CorruptFileError(MulliganError):
    """A data file (JSONL, checkpoint, config) cannot be read; the message names file and line."""


class FormatError(MulliganError):
    """The model's reply could not be parsed into an action; shown back to the model."""


class ProviderError(MulliganError):
    """An LLM backend failed (after retries); recorded on the trajectory, never fatal to a run."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class ScriptExhausted(MulliganError):
    """The scripted backend has no reply left for this episode."""


class EnvError(MulliganError):
    """An environment could not be created or reset (never raised by ``step``)."""


class SandboxError(MulliganError):
    """A code sandbox could not be started or used."""


class RunError(MulliganError):
    """A run directory is inconsistent (for example ``--resume`` with a different config)."""
