"""The prefix cache's lookup rules (no model involved)."""

from __future__ import annotations

from mulligan.llm.prefix_cache import PrefixCache, common_prefix_len
import numpy as np


def test_common_prefix_len():
    assert common_prefix_len(np.array([1, 2, 3]), np.array([1, 2, 4, 5])) == 2
    assert common_prefix_len(np.array([1, 2]), np.array([1, 2, 3])) == 2
    assert common_prefix_len(np.array([9]), np.array([1])) == 0


def test_take_returns_the_longest_shared_prefix_and_removes_it():
    cache = PrefixCache(8, min_reuse=2)
    cache.put([1, 2, 3, 4], ["a"])
    cache.put([1, 2, 3, 4, 5, 6], ["b"])
    cache.put([7, 8, 9], ["c"])
    entry, n = cache.take([1, 2, 3, 4, 5, 6, 7, 8])
    assert entry.layers == ["b"] and n == 6
    assert len(cache) == 2
    entry, n = cache.take([1, 2, 3, 4, 5, 6, 7, 8])  # "b" is gone; "a" is the next best
    assert entry.layers == ["a"] and n == 4
    assert (cache.hits, cache.reused_tokens, cache.lookups) == (2, 10, 2)


def test_at_least_one_token_is_left_to_run():
    cache = PrefixCache(8, min_reuse=1)
    cache.put([1, 2, 3, 4], ["a"])
    entry, n = cache.take([1, 2, 3])
    assert entry is not None and n == 2


def test_short_overlaps_and_a_disabled_cache_give_nothing():
    cache = PrefixCache(8, min_reuse=3)
    cache.put([1, 2, 5], ["a"])
    assert cache.take([1, 2, 3, 4]) == (None, 0)
    assert len(cache) == 1  # a miss leaves the entry in place
    off = PrefixCache(0)
    off.put([1, 2, 3, 4], ["a"])
    assert len(off) == 0 and off.take([1, 2, 3, 4, 5]) == (None, 0)


def test_capacity_evicts_the_least_recently_kept():
    cache = PrefixCache(2, min_reuse=1)
    cache.put([1, 1], ["old"])
    cache.put([2, 2], ["mid"])
    cache.put([3, 3], ["new"])
    assert len(cache) == 2
    assert cache.take([1, 1, 1]) == (None, 0)
    assert cache.take([3, 3, 3])[0].layers == ["new"]


def test_peek_finds_like_take_but_leaves_the_entry():
    cache = PrefixCache(8, min_reuse=2)
    cache.put([1, 2, 3, 4], ["a"])
    entry, n = cache.peek([1, 2, 3, 9])
    assert entry.layers == ["a"] and n == 3 and len(cache) == 1
    assert cache.take([1, 2, 3, 9])[1] == 3 and len(cache) == 0
