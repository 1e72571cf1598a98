"""Hybrid retrieval over one environment's experiences: dense + BM25, fused by reciprocal rank.

Each retriever ranks its best ``candidates``; an entry's fused score is the sum over the two
rankings of ``1 / (RRF_K + rank)`` (rank from 1; Cormack et al.'s k = 60), so an entry both
retrievers like beats one only a single retriever likes, and neither retriever's raw score scale
matters. Without an embedder the ranking is BM25 alone.

Dense vectors are computed lazily, in one batch for everything added since the last search, so
replaying a large log costs no model time until the first dense query. Past ``ivf_threshold``
live entries the dense side moves from the exact scan to an IVF index (built once, then updated
in place), optionally read from and saved to ``ivf_path``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mulligan.memory.bm25 import BM25
from mulligan.memory.embed import Embedder
from mulligan.memory.entries import tokens
from mulligan.memory.index import FlatIndex, IVFIndex

RRF_K = 60
IVF_THRESHOLD = 50_000
"""Live entries of one env from which dense search uses the IVF index instead of the exact scan."""


class Hit(NamedTuple):
    id: str
    score: float
    """Fused reciprocal-rank score."""
    dense_rank: int | None
    bm25_rank: int | None


def fuse(rankings: list[list[int]], k: int) -> list[tuple[int, float, list[int | None]]]:
    """Reciprocal-rank fusion: (item, score, rank in each ranking or None), best first, ``k`` of them."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for r, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
            ranks.setdefault(item, [None] * len(rankings))[r] = rank
    best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
    return [(i, scores[i], ranks[i]) for i in best]


class Partition:
    """The searchable entries of one env: slot numbers, BM25, vectors and (at scale) IVF.

    Args:
        embedder: Dense side (None: BM25 only).
        ivf_threshold: Live entries from which the IVF index is used.
        ivf_path: Where the IVF index is saved and looked for (None: never saved).
        nprobe: IVF cells scanned per query.
    """

    def __init__(self, embedder: Embedder | None, *, ivf_threshold: int = IVF_THRESHOLD,
                 ivf_path: Path | None = None, nprobe: int = 32):
        self.embedder = embedder
        self.ivf_threshold, self.ivf_path, self.nprobe = ivf_threshold, ivf_path, nprobe
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.slot: dict[str, int] = {}
        self.bm25 = BM25()
        self.flat = FlatIndex(embedder.dim) if embedder else None
        self.ivf: IVFIndex | None = None
        self._embedded = 0
        self._ivf_dirty = False

    def __len__(self) -> int:
        return len(self.slot)

    def add(self, id: str, text: str) -> None:
        self.slot[id] = len(self.ids)
        self.ids.append(id)
        self.texts.append(text)
        self.bm25.add(tokens(text))

    def remove(self, id: str) -> None:
        slot = self.slot.pop(id, None)
        if slot is None:
            return
        self.bm25.remove(slot)
        if slot < self._embedded and self.flat is not None:
            self.flat.remove(np.array([slot]))
            if self.ivf is not None:
                self.ivf.remove(np.array([slot]))
                self._ivf_dirty = True

    def ensure_vectors(self) -> None:
        """Embed what was added since the last call (one batch) and move to IVF past the threshold."""
        if self.flat is None or self.embedder is None:
            return
        start, end = self._embedded, len(self.ids)
        if end > start:
            slots = np.arange(start, end)
            vectors = self.embedder.encode(self.texts[start:end])
            self.flat.add(slots, vectors)
            alive = np.array([self.slot.get(self.ids[s]) == s for s in slots], dtype=bool)
            self.flat.remove(slots[~alive])
            live = slots[alive]
            self._embedded = end
            if self.ivf is not None:
                self.ivf.add(live, self.flat.vectors[live])
                self._ivf_dirty = True
        if self.ivf is None and len(self.slot) >= self.ivf_threshold:
            self._open_ivf()

    def fingerprint(self) -> str:
        """What the IVF index must hold: the live (slot, id) pairs."""
        h = hashlib.sha256()
        for id, slot in sorted(self.slot.items(), key=lambda kv: kv[1]):
            h.update(f"{slot}:{id}\n".encode())
        return h.hexdigest()

    def _open_ivf(self) -> None:
        assert self.flat is not None
        fingerprint = self.fingerprint()
        if self.ivf_path is not None and self.ivf_path.exists():
            self.ivf = IVFIndex.load(self.ivf_path, fingerprint, self.flat.dim, nprobe=self.nprobe)
            if self.ivf is not None:
                return
        live = np.array(sorted(self.slot.values()), dtype=np.int64)
        self.ivf = IVFIndex(self.flat.dim, nprobe=self.nprobe)
        self.ivf.build(live, self.flat.vectors[live])
        self._ivf_dirty = True

    def save(self) -> None:
        """Save the IVF index if it changed (the exact scan keeps nothing on disk)."""
        if self.ivf is not None and self.ivf_path is not None:
            self.ensure_vectors()  # the fingerprint names every live entry: the index must hold them all
        if self.ivf is not None and self._ivf_dirty and self.ivf_path is not None:
            self.ivf.save(self.ivf_path, self.fingerprint())
            self._ivf_dirty = False

    def dense(self, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        """Up to ``n`` live slots nearest ``query``, with their cosine."""
        self.ensure_vectors()
        assert self.flat is not None
        index = self.ivf if self.ivf is not None else self.flat
        slots, scores = index.search(query, n)
        return [(int(s), float(c)) for s, c in zip(slots, scores)]

    def search(self, query: str, k: int, *, candidates: int = 50, query_vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best entries for ``query`` (see the module docstring)."""
        if not self.slot or k <= 0:
            return []
        lexical = [slot for slot, _ in self.bm25.search(tokens(query), candidates)]
        rankings = [lexical]
        if self.embedder is not None:
            vector = query_vector if query_vector is not None else self.embedder.encode([query])[0]
            rankings.insert(0, [slot for slot, _ in self.dense(vector, candidates)])
        out = []
        for slot, score, ranks in fuse(rankings, k):
            dense_rank, bm25_rank = (ranks[0], ranks[1]) if len(ranks) == 2 else (None, ranks[0])
            out.append(Hit(self.ids[slot], score, dense_rank, bm25_rank))
        return out

    def nearest(self, text: str) -> tuple[str, float] | None:
        """The live entry whose vector is closest to ``text``'s, with the cosine (dense only)."""
        if self.embedder is None or not self.slot:
            return None
        found = self.dense(self.embedder.encode([text])[0], 1)
        return (self.ids[found[0][0]], found[0][1]) if found else None
