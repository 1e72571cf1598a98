"""Game folders the third-party env tests share, made once per session."""

from __future__ import annotations

import pytest

from thirdparty import HOUSEHOLD_TASKS, IN_CI, TEXTWORLD_SIZES, missing


@pytest.fixture(scope="session")
def textworld_games(tmp_path_factory):
    """A tw-simple suite generated with tw-make: train 2, valid 1, test 3 games."""
    reason = missing("textworld")
    if reason and not IN_CI:
        pytest.skip(reason)
    from mulligan.envs.adapters.textworld_make import make_suite

    root = tmp_path_factory.mktemp("tw-games")
    make_suite(root, challenge="tw-simple", sizes=TEXTWORLD_SIZES, seed=1)
    return root


@pytest.fixture(scope="session")
def alfworld_games(tmp_path_factory):
    """Household tasks written as ALFWorld games (train and unseen)."""
    reason = missing("alfworld", "fast_downward")
    if reason and not IN_CI:
        pytest.skip(reason)
    from mulligan.envs.adapters.alfworld_games import write_household_games

    root = tmp_path_factory.mktemp("alfworld-games")
    write_household_games(root, HOUSEHOLD_TASKS)
    return root
