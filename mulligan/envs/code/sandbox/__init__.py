"""Sandboxes for running untrusted code: Docker (the security boundary) and local (development).

``make_sandbox("docker" | "local", limits)`` builds a backend; ``shared_sandbox`` returns one
backend per (name, limits) for the whole process, so episodes made by the runner share a warm
pool (:func:`configure_shared` sets its options). ``MULLIGAN_SANDBOX`` names the backend used
when none is given (default ``docker``): the local backend, which is no security boundary, is
never chosen silently. Shared Docker pools are closed at exit (see
:mod:`~mulligan.envs.code.sandbox.docker_pool`) or by :func:`close_shared`.
"""

from __future__ import annotations

import os
import threading

from mulligan.envs.code.sandbox.base import ExecResult, KilledReason, Limits, Sandbox, Session
from mulligan.errors import ConfigError

BACKENDS = ("docker", "local")
_SHARED: dict[tuple[str, Limits], Sandbox] = {}
_SHARED_OPTIONS: dict[str, dict] = {}
_SHARED_LOCK = threading.Lock()


def default_backend() -> str:
    """The backend named by ``MULLIGAN_SANDBOX``, else ``docker``."""
    return os.environ.get("MULLIGAN_SANDBOX", "").strip().lower() or "docker"


def make_sandbox(name: str | None = None, limits: Limits | None = None, **options) -> Sandbox:
    """A new sandbox backend.

    Args:
        name: ``"docker"`` or ``"local"``; None reads ``MULLIGAN_SANDBOX`` (default ``docker``).
        limits: Resource limits (defaults: :class:`Limits`).
        **options: Backend options (Docker: ``image``, ``warm``, ``server``, ``zygote``, ``reuse``;
            see :class:`~mulligan.envs.code.sandbox.docker_pool.DockerSandbox`).

    Raises:
        ConfigError: Unknown backend name.
        DependencyNotInstalled: ``docker`` chosen but the SDK is missing.
    """
    name = name or default_backend()
    if name == "docker":
        from mulligan.envs.code.sandbox.docker_pool import DockerSandbox

        return DockerSandbox(limits, **options)
    if name == "local":
        from mulligan.envs.code.sandbox.local import LocalSandbox

        return LocalSandbox(limits, **options)
    raise ConfigError(f"unknown sandbox backend {name!r}; use one of {', '.join(BACKENDS)}")


def shared_sandbox(name: str | None = None, limits: Limits | None = None) -> Sandbox:
    """The process-wide backend for ``(name, limits)``, made on first use."""
    key = (name or default_backend(), limits or Limits())
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make_sandbox(*key, **_SHARED_OPTIONS.get(key[0], {}))
        return _SHARED[key]


def configure_shared(name: str, **options) -> None:
    """Set the options of the process-wide ``name`` backends (see :func:`make_sandbox`).

    Open ones of that name are closed; the next :func:`shared_sandbox` makes one with ``options``.
    """
    make_sandbox(name, **options).close()  # a bad name or option fails here, not in an episode
    with _SHARED_LOCK:
        _SHARED_OPTIONS[name] = dict(options)
        stale = [key for key in _SHARED if key[0] == name]
        sandboxes = [_SHARED.pop(key) for key in stale]
    for sandbox in sandboxes:
        sandbox.close()


def close_shared() -> None:
    """Close and forget every process-wide backend (the next :func:`shared_sandbox` makes a new one)."""
    with _SHARED_LOCK:
        sandboxes = list(_SHARED.values())
        _SHARED.clear()
    for sandbox in sandboxes:
        sandbox.close()


__all__ = [
    "BACKENDS",
    "ExecResult",
    "KilledReason",
    "Limits",
    "Sandbox",
    "Session",
    "close_shared",
    "configure_shared",
    "default_backend",
    "make_sandbox",
    "shared_sandbox",
]
