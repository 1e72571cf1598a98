"""The local backend: the sandbox contract and its limits (it is no security boundary)."""

from __future__ import annotations

import os

import pytest
from sandbox_cases import (
    check_background_processes_are_killed,
    check_basic_contract,
    check_limits,
    run,
)

from mulligan.errors import SandboxError


def test_contract(local_sandbox):
    check_basic_contract(local_sandbox.session())


def test_limits(local_sandbox):
    check_limits(local_sandbox.session())


def test_background_processes(local_sandbox):
    check_background_processes_are_killed(local_sandbox.session())


def test_memory_is_capped_by_address_space(local_sandbox):
    r = run(local_sandbox.session(), "x = bytearray(2 * 1024**3)")
    assert r.exit_code == 1 and "MemoryError" in r.stderr


def test_sessions_are_separate_and_closing_deletes_the_work_dir(local_sandbox):
    a, b = local_sandbox.session(), local_sandbox.session()
    run(a, "open('mine.txt', 'w').write('a')")
    assert run(b, "import os\nprint(os.path.exists('mine.txt'))").stdout == "False\n"
    workdir = a.workdir
    a.close()
    assert not os.path.exists(workdir)
    with pytest.raises(SandboxError, match="closed"):
        run(a, "print(1)")
    local_sandbox.close()
    assert not os.path.exists(b.workdir)


@pytest.mark.parametrize("path", ["/etc/x", "../x", "a/../../x"])
def test_files_must_stay_in_the_work_dir(local_sandbox, path):
    with pytest.raises(SandboxError, match="relative"):
        local_sandbox.session().run(["python3", "x"], files={path: ""})


def test_a_missing_program_is_a_result_not_an_error(local_sandbox):
    r = local_sandbox.session().run(["no-such-binary-here"])
    assert r.exit_code is None and "could not start" in r.stderr
