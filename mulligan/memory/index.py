"""Vector indexes over unit vectors (inner product = cosine): exact numpy, and faiss IVF for scale.

:class:`FlatIndex` scans every vector (one matrix-vector product); it is exact and the baseline.
:class:`IVFIndex` clusters the vectors into ``nlist`` cells (k-means) and scans only the
``nprobe`` cells nearest the query, so a query touches about ``nprobe / nlist`` of the vectors:
that is what keeps it fast at a million entries (``benchmarks/memory.py`` measures latency and
recall against the flat scan). Vectors are addressed by slot numbers given by the caller.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from mulligan.errors import DependencyNotInstalled


def _top(scores: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, slots = scores[part], slots[part]
    order = np.argsort(-scores, kind="stable")
    return slots[order], scores[order]


class FlatIndex:
    """Exact search: every live vector is scored. Grows by doubling; removed slots are masked."""

    def __init__(self, dim: int):
        self.dim = dim
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self.size = 0

    def __len__(self) -> int:
        return int(self._alive[: self.size].sum())

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[: self.size]

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        """Put ``vectors`` at ``slots`` (slots may leave gaps; those stay dead)."""
        slots = np.asarray(slots, dtype=np.int64)
        if not len(slots):
            return
        need = int(slots.max()) + 1
        if need > len(self._vectors):
            cap = max(need, 2 * len(self._vectors), 64)
            grown = np.zeros((cap, self.dim), dtype=np.float32)
            grown[: self.size] = self._vectors[: self.size]
            alive = np.zeros(cap, dtype=bool)
            alive[: self.size] = self._alive[: self.size]
            self._vectors, self._alive = grown, alive
        self._vectors[slots] = vectors
        self._alive[slots] = True
        self.size = max(self.size, need)

    def remove(self, slots: np.ndarray) -> None:
        self._alive[np.asarray(slots, dtype=np.int64)] = False

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest live slots to a unit ``query`` and their cosine, best first."""
        if not self.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self._vectors[: self.size] @ query
        live = np.flatnonzero(self._alive[: self.size])
        if len(live) == self.size:
            return _top(scores, np.arange(self.size), k)
        return _top(scores[live], live, k)


def _faiss():
    try:
        import faiss
    except ImportError as e:
        raise DependencyNotInstalled("faiss-cpu", "memory", "the IVF vector index for large memories") from e
    return faiss


class IVFIndex:
    """faiss ``IndexIVFFlat`` with inner product, trained on the vectors it is built from.

    Args:
        dim: Vector size.
        nlist: Cells; None picks ``2 * sqrt(n)`` at build time (between 16 and 65536).
        nprobe: Cells scanned per query.
    """

    def __init__(self, dim: int, nlist: int | None = None, nprobe: int = 32):
        self.dim, self.nlist, self.nprobe = dim, nlist, nprobe
        self.index = None

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def build(self, slots: np.ndarray, vectors: np.ndarray, *, train_size: int = 64, seed: int = 0) -> None:
        """Train the cells on a sample of ``vectors`` (``train_size`` per cell) and add them all."""
        faiss = _faiss()
        n = len(vectors)
        nlist = min(n, self.nlist or int(min(65536, max(16, 2 * math.sqrt(n)))))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = vectors if n <= nlist * train_size else vectors[rng.choice(n, nlist * train_size, replace=False)]
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 1  # small memories train on what they have
        index.cp.seed = seed
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        self.index, self.nlist = index, nlist
        self.add(slots, vectors)

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        assert self.index is not None, "build the index first"
        if len(slots):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(slots, np.int64))

    def remove(self, slots: np.ndarray) -> None:
        if self.index is not None and len(slots):
            self.index.remove_ids(np.asarray(slots, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest slots found in the ``nprobe`` nearest cells, best first."""
        assert self.index is not None, "build the index first"
        self.index.nprobe = self.nprobe
        scores, slots = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        found = slots[0] >= 0
        return slots[0][found], scores[0][found]

    # -- file: derived data, rebuilt when it does not match -----------------------------------
    def save(self, path: Path, fingerprint: str) -> None:
        """Write the index with the fingerprint of what it holds, as one file renamed into place."""
        faiss = _faiss()
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, index=faiss.serialize_index(self.index), fingerprint=np.array(fingerprint),
                     nlist=np.array(self.nlist))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, fingerprint: str, dim: int, nprobe: int = 32) -> "IVFIndex | None":
        """The saved index if it holds exactly ``fingerprint``'s vectors; None if stale or unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["fingerprint"]) != fingerprint:
                    return None
                index = _faiss().deserialize_index(data["index"])
                nlist = int(data["nlist"])
            if index.d != dim:
                return None
        except Exception:  # noqa: BLE001 - derived data: the caller rebuilds it
            return None
        out = cls(dim, nlist=nlist, nprobe=nprobe)
        out.index = index
        return out
