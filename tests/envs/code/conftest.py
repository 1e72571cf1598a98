"""Fixtures of the code env tests: sandboxes, and the rule for a missing Docker engine.

Docker tests use ``docker_sandbox`` (or ``docker_ready``). Without a usable engine (no daemon, no
``docker`` package, or no sandbox image) they are skipped with the reason on a laptop, and fail
in CI (``CI=true``), where the engine and the image must be there.
"""

from __future__ import annotations

import os

import pytest
from sandbox_cases import TEST_LIMITS

from mulligan.envs.code.sandbox import make_sandbox
from mulligan.errors import DependencyNotInstalled, SandboxError


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def docker_problem() -> str | None:
    """Why the Docker sandbox cannot run here, or None when it can."""
    try:
        from mulligan.envs.code.sandbox.containers import DEFAULT_IMAGE, connect, require_image

        require_image(connect(timeout=15), DEFAULT_IMAGE)
    except (SandboxError, DependencyNotInstalled) as e:
        return str(e)
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip (laptop) or fail (CI) when the Docker engine or the sandbox image is missing."""
    problem = docker_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"CI must run the docker tests, but the Docker sandbox is not usable: {problem}")
    pytest.skip(f"Docker sandbox not usable here: {problem} (scripts/ci-docker.sh sets it up)")


PATHS = {"warm": {}, "exec": {"server": False}}
"""How actions reach a container: the warm supervisor (the default), or one ``docker exec`` each."""


@pytest.fixture(scope="module")
def docker_sandbox(docker_ready, request):
    """A Docker pool with tight limits, closed (every container removed) after the module.

    Tests parametrized with ``ON_EVERY_PATH`` (``sandbox_cases``) get one pool per path of ``PATHS``.
    """
    from mulligan.envs.code.sandbox.containers import connect, sandbox_containers

    sandbox = make_sandbox("docker", TEST_LIMITS, warm=2, **PATHS[getattr(request, "param", "warm")])
    yield sandbox
    held = sandbox.container_ids()
    sandbox.close()
    assert not {c["Id"] for c in sandbox_containers(connect())} & set(held), "sandbox containers left behind"


@pytest.fixture
def local_sandbox():
    sandbox = make_sandbox("local", TEST_LIMITS)
    yield sandbox
    sandbox.close()
