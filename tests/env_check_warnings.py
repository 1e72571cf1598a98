"""gymnasium's ``check_env`` with the warnings it raised, for the env contract tests."""

from __future__ import annotations

import gc
import warnings
from typing import Any

from gymnasium.utils.env_checker import check_env


def check_env_warnings(env: Any) -> list[str]:
    """Run ``check_env`` on ``env``; the warnings it raised, but for the ones that are not the env's.

    Not the env's: "not having a spec" (a directly constructed env has none, so gymnasium cannot make it
    in other render modes) and "unclosed <socket" (an earlier test's Docker client, freed by the garbage
    collector while the recorder listens; the collection first makes that rare, the filter certain).
    """
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    return [str(w.message) for w in caught
            if "not having a spec" not in str(w.message) and not str(w.message).startswith("unclosed <socket")]
