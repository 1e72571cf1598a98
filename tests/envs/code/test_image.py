"""Building the sandbox image: the Debian mirror debootstrap uses is the one the host's apt uses."""

from __future__ import annotations

from mulligan.envs.code.sandbox.image import DEFAULT_MIRROR, DOCKERFILE, apt_mirror


def test_mirror_from_deb822_sources(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert apt_mirror("bookworm", (str(tmp_path / "sources.list"), str(d))) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path):
    lst = tmp_path / "sources.list"
    lst.write_text("deb http://security.example/debian-security bookworm-security main\n"
                   "deb [arch=amd64] http://ftp.example/debian bookworm main contrib\n")
    assert apt_mirror("bookworm", (str(lst),)) == "http://ftp.example/debian"
    assert apt_mirror("trixie", (str(lst),)) == DEFAULT_MIRROR
    assert apt_mirror("bookworm", (str(tmp_path / "missing"),)) == DEFAULT_MIRROR


def test_the_dockerfile_makes_the_same_user_as_the_offline_build():
    assert "useradd -u 10001 -g 10001 -d /work" in DOCKERFILE and "python3" in DOCKERFILE
