"""Memory that carries over across tasks and runs: Reflexion's lessons and EchoTrail's experience.

* :class:`ReflectionMemory` (``reflections.py``): the in-run buffer of a Reflexion agent.
* :class:`MemoryStore` (``store.py``): a directory on disk holding experiences (instruction + key
  steps of successes) and lessons per (env, task); crash-safe, one writer and many readers.
* :class:`EpisodeMemory` (``episodes.py``): what ``mulligan run --memory PATH`` attaches to an
  agent: hybrid retrieval (embeddings + BM25) at episode start, write-back after.

Importing this package loads no model and no torch; the embedding model loads on the first
dense search.
"""

from mulligan.memory.entries import Experience, KeyStep, Lesson, usefulness
from mulligan.memory.episodes import EpisodeMemory, MemoryConfig
from mulligan.memory.reflections import ReflectionMemory
from mulligan.memory.store import MemoryStore

__all__ = [
    "EpisodeMemory", "Experience", "KeyStep", "Lesson", "MemoryConfig", "MemoryStore", "ReflectionMemory",
    "usefulness",
]
