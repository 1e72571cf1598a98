"""A key/value cache that writes new tokens into spare room instead of concatenating.

Hugging Face's ``DynamicCache`` grows each layer with ``torch.cat`` on every generated token, which
copies the whole cache per token: at 16 rows of 2,000 tokens that copying, not the model, was most
of a decoding step on CPU. :func:`reserved_cache` gives each layer a buffer with room for the
tokens still to come and hands attention views of its filled part.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class ReservedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose updates fill a preallocated buffer, growing it only when full."""

    def __init__(self, reserve: int = 64):
        super().__init__()
        self.reserve = max(1, int(reserve))
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None

    def _fits(self, keys: torch.Tensor, needed: int) -> bool:
        return (
            self._keys is not None
            and self.keys.data_ptr() == self._keys.data_ptr()  # not replaced by a reorder or crop
            and self._keys.shape[0] == keys.shape[0]
            and needed <= self._keys.shape[-2]
        )

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        used = self.get_seq_length()
        end = used + key_states.shape[-2]
        if not self._fits(key_states, end):
            shape = (*key_states.shape[:-2], end + self.reserve, key_states.shape[-1])
            keys, values = key_states.new_empty(shape), value_states.new_empty(shape)
            if used:
                keys[..., :used, :] = self.keys
                values[..., :used, :] = self.values
            self._keys, self._values = keys, values
        self._keys[..., used:end, :] = key_states
        self._values[..., used:end, :] = value_states
        self.keys, self.values = self._keys[..., :end, :], self._values[..., :end, :]
        return self.keys, self.values


def reserved_cache(num_layers: int, past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                   reserve: int = 64) -> DynamicCache:
    """A cache of :class:`ReservedLayer` s, filled with ``past`` (per layer ``[batch, heads, len, dim]``)."""
    cache = DynamicCache()
    cache.layers = [ReservedLayer(reserve) for _ in range(num_layers)]
    for layer, (keys, values) in zip(cache.layers, past or []):
        layer.update(keys, values)
    return cache
