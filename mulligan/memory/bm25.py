"""Okapi BM25 over the memory's instructions, updated in place as entries come and go.

The scoring is Lucene's (the default of ``bm25s``): ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``
and ``tf / (tf + k1 * (1 - b + b * len / avglen))`` per query word. It is written here rather
than taken from ``bm25s`` because the memory grows one entry at a time while it is searched, and
``bm25s`` indexes a fixed corpus (every added entry would re-index everything); the scores agree
with ``bm25s`` to float precision (``tests/memory/test_memory_retrieval.py``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np


class BM25:
    """An inverted index over documents numbered 0, 1, 2, ... in the order they were added.

    Args:
        k1: Term-frequency saturation.
        b: Length normalisation.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self._postings: dict[str, tuple[list[int], list[int]]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._df: Counter[str] = Counter()
        self._terms: list[Counter[str]] = []
        self._lengths = np.zeros(64, dtype=np.float32)
        self._alive = np.zeros(64, dtype=bool)
        self._n = 0
        self._total = 0
        self.live = 0

    def __len__(self) -> int:
        return self._n

    def add(self, words: list[str]) -> int:
        """Index a document; returns its number."""
        doc = self._n
        if doc == len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros(doc, dtype=np.float32)])
            self._alive = np.concatenate([self._alive, np.zeros(doc, dtype=bool)])
        counts = Counter(words)
        for term, tf in counts.items():
            slots, tfs = self._postings.setdefault(term, ([], []))
            slots.append(doc)
            tfs.append(tf)
            self._df[term] += 1
        self._lengths[doc] = len(words)
        self._alive[doc] = True
        self._terms.append(counts)
        self._n += 1
        self._total += len(words)
        self.live += 1
        return doc

    def remove(self, doc: int) -> None:
        """Take a document out of the statistics and the results (its number is not reused)."""
        if not self._alive[doc]:
            return
        self._alive[doc] = False
        for term in self._terms[doc]:
            self._df[term] -= 1
        self._total -= int(self._lengths[doc])
        self.live -= 1
        self._terms[doc] = Counter()

    def search(self, words: list[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents for the query words, as (number, score), best first."""
        if not self.live or k <= 0:
            return []
        scores = self.scores(words)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return [(int(d), float(scores[d])) for d in hits]

    def scores(self, words: list[str]) -> np.ndarray:
        """BM25 score of every document number for the query (0 for removed ones)."""
        n = self._n
        scores = np.zeros(n, dtype=np.float32)
        if not self.live:
            return scores
        lengths = self._lengths[:n]
        avg = self._total / self.live if self._total else 1.0
        norm = self.k1 * (1 - self.b + self.b * lengths / avg)
        for term, repeats in Counter(words).items():
            df = self._df.get(term, 0)
            if df <= 0:
                continue
            idf = np.log(1 + (self.live - df + 0.5) / (df + 0.5))
            slots, tfs = self._posting(term)
            scores[slots] += repeats * idf * tfs / (tfs + norm[slots])
        scores[~self._alive[:n]] = 0
        return scores

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        slots, tfs = self._postings[term]
        cached = self._arrays.get(term)
        if cached is None or len(cached[0]) != len(slots):
            cached = (np.asarray(slots, dtype=np.int64), np.asarray(tfs, dtype=np.float32))
            self._arrays[term] = cached
        return cached
