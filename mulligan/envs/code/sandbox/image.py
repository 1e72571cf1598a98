"""Building the sandbox image: Debian with python3 and an unprivileged ``sandbox`` user.

Two recipes give the same image. Where a registry is reachable, a Dockerfile on
``debian:bookworm-slim``. Offline (CI, air-gapped machines), ``debootstrap --variant=minbase``
makes a small Debian root filesystem from the Debian archive the host's apt already uses; it is
trimmed, given the user, and imported with ``docker import``. Building needs root for debootstrap.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Literal

from mulligan.envs.code.sandbox.containers import DEFAULT_IMAGE, SANDBOX_UID, WORKDIR, connect
from mulligan.errors import SandboxError

Method = Literal["auto", "dockerfile", "debootstrap"]

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends python3 \\
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale \\
 && groupadd -g {SANDBOX_UID} sandbox \\
 && useradd -u {SANDBOX_UID} -g {SANDBOX_UID} -d {WORKDIR} -M -s /usr/sbin/nologin sandbox
WORKDIR {WORKDIR}
"""
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale",
        "usr/share/info")


def image_exists(api: Any, image: str) -> bool:
    """Whether the engine has ``image``."""
    import docker.errors

    try:
        api.inspect_image(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def registry_reachable(api: Any) -> bool:
    """Whether the base image is here or can be pulled (fails fast without network)."""
    import docker.errors

    if image_exists(api, BASE_IMAGE):
        return True
    repo, tag = BASE_IMAGE.split(":")
    try:
        api.pull(repo, tag=tag)
        return True
    except docker.errors.DockerException:
        return False


def apt_mirror(suite: str = DEBIAN_SUITE, sources: tuple[str, ...] = ("/etc/apt/sources.list",
               "/etc/apt/sources.list.d")) -> str:
    """The Debian mirror the host's apt uses for ``suite`` (deb822 or one-line format)."""
    texts = []
    for src in map(Path, sources):
        files = sorted(src.glob("*.list")) + sorted(src.glob("*.sources")) if src.is_dir() else [src]
        texts += [f.read_text(errors="replace") for f in files if f.is_file()]
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(.+)$", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and suite in suites.group(1).split():
                for uri in uris.group(1).split():
                    if "security" not in uri:
                        return uri.rstrip("/")
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if m.group(2) == suite and "security" not in m.group(1):
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def _build_dockerfile(api: Any, image: str, log: Callable[[str], None]) -> None:
    for chunk in api.build(fileobj=io.BytesIO(DOCKERFILE.encode()), tag=image, forcerm=True, decode=True):
        if "error" in chunk:
            raise SandboxError(f"docker build failed: {chunk['error'].strip()}")
        if chunk.get("stream", "").strip():
            log(chunk["stream"].rstrip())


def _build_debootstrap(api: Any, image: str, mirror: str, suite: str, log: Callable[[str], None]) -> None:
    if not shutil.which("debootstrap"):
        raise SandboxError("debootstrap is not installed (apt-get install debootstrap), and no registry is reachable")
    with tempfile.TemporaryDirectory(prefix="mulligan-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap --variant=minbase --include=python3 {suite} {rootfs} {mirror}")
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3", suite, str(rootfs), mirror],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SandboxError(f"debootstrap failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
        for rel in TRIM:
            shutil.rmtree(rootfs / rel, ignore_errors=True)
        with open(rootfs / "etc/passwd", "a") as f:
            f.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}::{WORKDIR}:/usr/sbin/nologin\n")
        with open(rootfs / "etc/group", "a") as f:
            f.write(f"sandbox:x:{SANDBOX_UID}:\n")
        (rootfs / WORKDIR.lstrip("/")).mkdir(exist_ok=True)
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        log(f"docker import {tarball} {image}")
        repo, tag = image.rsplit(":", 1) if ":" in image.rsplit("/", 1)[-1] else (image, "latest")
        changes = [f"ENV PATH={PATH}", f"WORKDIR {WORKDIR}"]
        api.import_image(src=str(tarball), repository=repo, tag=tag, changes=changes)


def build_image(
    image: str = DEFAULT_IMAGE,
    *,
    method: Method = "auto",
    mirror: str | None = None,
    suite: str = DEBIAN_SUITE,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """Build the sandbox image unless it exists.

    Args:
        image: Name and tag to build.
        method: ``dockerfile``, ``debootstrap``, or ``auto`` (the Dockerfile when the base image
            is here or can be pulled, debootstrap otherwise).
        mirror: Debian mirror for debootstrap; default: the one the host's apt uses.
        suite: Debian release for debootstrap.
        force: Rebuild an existing image.
        log: Receives progress lines.

    Returns:
        How the image came to be: ``"exists"``, ``"dockerfile"`` or ``"debootstrap"``.

    Raises:
        SandboxError: No engine, or the build failed.
    """
    api = connect(timeout=600)
    if not force and image_exists(api, image):
        return "exists"
    if method == "auto":
        method = "dockerfile" if registry_reachable(api) else "debootstrap"
    if method == "dockerfile":
        _build_dockerfile(api, image, log)
    else:
        _build_debootstrap(api, image, mirror or apt_mirror(suite), suite, log)
    if not image_exists(api, image):
        raise SandboxError(f"the build finished but image {image!r} is not there")
    return method
