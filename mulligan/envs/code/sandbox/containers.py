"""Sandbox containers: how they are locked down, labelled, and always removed.

Every container runs ``cat`` as its main process, with stdin attached to a socket this process
holds (Docker's ``StdinOnce``). When this process dies, even by SIGKILL, the kernel closes the
socket, ``cat`` reads EOF and exits, and Docker's auto-remove deletes the container: a dead-man
switch that needs no cleanup code to run. On top of that, containers carry an owner label
(host, pid, process start time) and :func:`reap_stale` removes those whose owner is gone
(containers killed between create and start, or a daemon that missed the disconnect).

The program inside runs as an unprivileged user (``SANDBOX_UID``) in a container with no network,
a read-only root, every capability dropped, no new privileges, limits on memory (no swap), CPU
and processes, and tmpfs mounts at ``/work`` and ``/tmp``. ``cat`` runs as root (without
capabilities), so the sandbox user cannot kill it and take the container down with it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from mulligan.envs.code.sandbox.base import Limits
from mulligan.errors import DependencyNotInstalled, SandboxError

SANDBOX_UID = 10001
SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
WORKDIR = "/work"
LABEL = "mulligan.sandbox"
OWNER_LABEL = "mulligan.owner"
DEFAULT_IMAGE = os.environ.get("MULLIGAN_SANDBOX_IMAGE", "mulligan-sandbox:bookworm-1")


def connect(timeout: float = 60.0) -> Any:
    """A Docker API client for the engine in the environment (``DOCKER_HOST`` or the local socket).

    Raises:
        DependencyNotInstalled: The ``docker`` package is missing.
        SandboxError: No engine answers.
    """
    try:
        import docker
    except ImportError as e:
        raise DependencyNotInstalled("docker", "docker", "needed by the Docker sandbox") from e
    try:
        client = docker.from_env(timeout=timeout).api
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure here means "no engine"
        raise SandboxError(
            f"the Docker engine is not reachable ({type(e).__name__}: {e}). Start it (e.g. `dockerd &`), "
            "or run code without isolation on this machine with MULLIGAN_SANDBOX=local"
        ) from e
    return client


def require_image(api: Any, image: str) -> None:
    """Raises SandboxError with the command that builds the image when it is missing."""
    import docker.errors

    try:
        api.inspect_image(image)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"sandbox image {image!r} not found; build it with `mulligan sandbox build`") from None


def _start_time(pid: int) -> str:
    """The kernel's start time of a process (field 22 of /proc/PID/stat), '' if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_token(pid: int | None = None) -> str:
    """``host:pid:start-time`` of a process: who owns a container, robust to pid reuse."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(token: str) -> bool:
    """Whether the process named by an owner token still runs (tokens of other hosts count as alive)."""
    host, _, rest = token.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    return pid.isdigit() and bool(started) and _start_time(int(pid)) == started


def host_config(api: Any, limits: Limits) -> dict[str, Any]:
    """The locked-down host config of a sandbox container."""
    from docker.types import Ulimit

    mem = f"{limits.memory_mb}m"
    return api.create_host_config(
        auto_remove=True,
        init=True,
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit=mem,
        memswap_limit=mem,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        shm_size="8m",
        tmpfs={
            WORKDIR: f"size={limits.disk_mb}m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700,noexec,nosuid,nodev",
            "/tmp": "size=16m,mode=1777,noexec,nosuid,nodev",
        },
        ulimits=[Ulimit(name="core", soft=0, hard=0)],
    )


def start_container(api: Any, image: str, limits: Limits) -> tuple[str, socket.socket]:
    """Create, arm and start one sandbox container.

    Returns:
        The container id and the dead-man socket; keep the socket open while the container is in
        use, and the container is removed once it is closed (or this process dies).

    Raises:
        SandboxError: The engine refused (missing image, bad limits).
    """
    import docker.errors

    try:
        cid = api.create_container(
            image,
            command=["cat"],
            stdin_open=True,  # with detach=False this also sets StdinOnce
            detach=False,
            network_disabled=True,
            hostname="sandbox",
            working_dir=WORKDIR,
            labels={LABEL: "1", OWNER_LABEL: owner_token()},
            host_config=host_config(api, limits),
        )["Id"]
        sock = api.attach_socket(cid, params={"stdin": 1, "stream": 1})
        api.start(cid)
    except docker.errors.DockerException as e:
        raise SandboxError(f"could not start a sandbox container from {image!r}: {e}") from e
    return cid, sock._sock if hasattr(sock, "_sock") else sock


def remove_container(api: Any, cid: str) -> None:
    """Force-remove a container; one that is already gone is fine."""
    import docker.errors

    try:
        api.remove_container(cid, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if e.status_code != 409:  # 409: auto-remove is already under way
            raise


def sandbox_containers(api: Any) -> list[dict[str, Any]]:
    """Every container carrying the sandbox label, running or not."""
    return api.containers(all=True, filters={"label": LABEL})


def reap_stale(api: Any, *, everything: bool = False) -> list[str]:
    """Remove sandbox containers whose owner process is gone (all of them with ``everything``).

    Returns:
        The ids removed.
    """
    removed = []
    for c in sandbox_containers(api):
        owner = (c.get("Labels") or {}).get(OWNER_LABEL, "")
        if everything or not owner_alive(owner):
            remove_container(api, c["Id"])
            removed.append(c["Id"])
    return removed


def wait_gone(api: Any, cids: list[str], timeout: float = 10.0) -> bool:
    """Wait until none of ``cids`` exists any more; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {c["Id"] for c in sandbox_containers(api)}
        if not alive & set(cids):
            return True
        time.sleep(0.1)
    return False
