"""Shared fixtures: the real tiny default policy, built once per session (cached on disk)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def default_policy_path():
    """Path of the embedded default policy, trained here from expert demos on first use."""
    from mulligan.training.default_policy import ensure_default_policy, register_default_policy

    path = ensure_default_policy(progress=False)
    register_default_policy()
    return path
