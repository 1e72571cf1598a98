"""Training: exact loss masks, TRL fine-tuning, and the tiny default policy.

``import mulligan.training`` stays light; the names below load their modules (and torch,
transformers, trl) on first access:

- :func:`tokenize_conversation` (``masking``): token ids and the exact per-token loss mask.
- :func:`train_sft`, :func:`make_trainer`, :func:`trainer_labels` (``sft``): SFT through TRL.
- :func:`build_tokenizer`, :func:`build_tiny_model` (``tiny``): the locally built default policy.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "tokenize_conversation": "masking",
    "ChatTemplateError": "masking",
    "TokenizedConversation": "masking",
    "train_sft": "sft",
    "make_trainer": "sft",
    "trainer_labels": "sft",
    "labels_seen_by_trainer": "sft",
    "build_tokenizer": "tiny",
    "build_tiny_model": "tiny",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mulligan.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mulligan.training.{module}"), name)
