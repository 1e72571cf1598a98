"""The persistent memory: a directory whose event log is the truth, and whose other files are derived.

Layout of a memory directory::

    log.jsonl         every change, one JSON event a line (the only file that matters)
    lock              flock'ed by a writer while it appends
    embeddings.npz    cache of instruction vectors by text hash (rebuilt when missing or bad)
    ivf-<env>.npz     IVF index of a large env (rebuilt when missing, stale or bad)

Events (``op``): ``add`` (an experience), ``merge`` (a near-duplicate success folded into an
entry), ``use`` (an episode was shown entries; did it win), ``evict`` (the capacity policy
dropped entries), ``lesson`` (a reflection for one env and task). The state is the replay of the
log, so a reader that reopens or refreshes sees exactly the complete events written so far.
See ``log.py`` for why a killed writer never costs an earlier event.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mulligan.errors import ConfigError, CorruptFileError
from mulligan.memory.embed import EmbeddingCache, Embedder
from mulligan.memory.entries import Experience, KeyStep, Lesson, experience_from, same_words, tokens, usefulness
from mulligan.memory.log import EventLog
from mulligan.memory.retrieval import IVF_THRESHOLD, Hit, Partition
from mulligan.records import Trajectory, iter_jsonl

FORMAT = "mulligan-memory-1"
DUPLICATE_COSINE = 0.95
"""Instructions at least this close (cosine) are near-duplicates (dense stores)."""
DUPLICATE_WORDS = 0.9
"""Instructions whose word sets overlap at least this much (Jaccard) are near-duplicates."""
KEPT_IDS = 8
"""Task and trajectory ids kept per merged entry."""


class MemoryStore:
    """A memory directory opened for reading, and for writing under the writers' lock.

    Args:
        root: The directory (created on the first write).
        dense: Use embeddings (the ``memory`` extra); False ranks by BM25 alone.
        capacity: Experiences kept per env; past it the least useful are evicted (:func:`usefulness`).
        max_lessons: Lessons kept per (env, task).
        ivf_threshold: Entries of one env from which dense search uses the IVF index.
        nprobe: IVF cells scanned per query.
    """

    def __init__(self, root: str | Path, *, dense: bool = True, capacity: int = 5000, max_lessons: int = 10,
                 ivf_threshold: int = IVF_THRESHOLD, nprobe: int = 32):
        if capacity < 1:
            raise ConfigError(f"memory capacity must be at least 1, not {capacity}")
        self.root = Path(root)
        self.dense, self.capacity, self.max_lessons = dense, capacity, max_lessons
        self.ivf_threshold, self.nprobe = ivf_threshold, nprobe
        self.log = EventLog(self.root)
        self.cache = EmbeddingCache(self.root) if dense else None
        self.embedder = Embedder(cache=self.cache) if dense else None
        self._reset()
        self.refresh()

    def _reset(self) -> None:
        self._entries: dict[str, Experience] = {}
        self._partitions: dict[str, Partition] = {}
        self._lessons: dict[tuple[str, str], deque[Lesson]] = {}
        self.counts: Counter[str] = Counter()
        """Events replayed, by op (``merge`` and ``evict`` say what the policies did)."""

    # -- replay -------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Apply the events written since the last refresh (by any process); returns how many."""
        events, restarted = self.log.read_new()
        if restarted:
            self._reset()
        for event in events:
            self._apply(event)
        return len(events)

    def _apply(self, event: dict[str, Any]) -> None:
        op = event.get("op")
        self.counts[str(op)] += 1
        if op == "add":
            entry = Experience.model_validate(event["entry"])
            if entry.id not in self._entries:
                self._entries[entry.id] = entry
                self._partition(entry.env).add(entry.id, entry.text)
        elif op == "merge" and event["id"] in self._entries:
            entry = self._entries[event["id"]]
            entry.count += 1
            entry.updated = event.get("time", entry.updated)
            if event.get("steps") is not None:
                entry.steps = [KeyStep.model_validate(step) for step in event["steps"]]
            for field, value in (("task_ids", event.get("task_id")), ("traj_ids", event.get("traj_id"))):
                kept = getattr(entry, field)
                if value and value not in kept and len(kept) < KEPT_IDS:
                    kept.append(value)
        elif op == "use":
            for id in event.get("ids", []):
                if id in self._entries:
                    self._entries[id].uses += 1
                    self._entries[id].wins += int(bool(event.get("won")))
        elif op == "evict":
            self.counts["evicted entries"] += len(event.get("ids", []))
            for id in event.get("ids", []):
                entry = self._entries.pop(id, None)
                if entry is not None:
                    self._partitions[entry.env].remove(id)
        elif op == "lesson":
            lesson = Lesson.model_validate(event["lesson"])
            kept = self._lessons.setdefault((lesson.env, lesson.task_id), deque(maxlen=self.max_lessons))
            if all(old.text != lesson.text for old in kept):
                kept.append(lesson)

    def _partition(self, env: str) -> Partition:
        if env not in self._partitions:
            digest = hashlib.sha256(env.encode()).hexdigest()[:12]
            self._partitions[env] = Partition(
                self.embedder, ivf_threshold=self.ivf_threshold, ivf_path=self.root / f"ivf-{digest}.npz",
                nprobe=self.nprobe,
            )
        return self._partitions[env]

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def get(self, id: str) -> Experience | None:
        return self._entries.get(id)

    def experiences(self, env: str | None = None) -> list[Experience]:
        return [e for e in self._entries.values() if env is None or e.env == env]

    def lessons(self, env: str, task_id: str, k: int | None = None) -> list[Lesson]:
        """The last ``k`` lessons of a task, oldest first."""
        kept = list(self._lessons.get((env, task_id), ()))
        return kept[-k:] if k else ([] if k == 0 else kept)

    def all_lessons(self) -> list[Lesson]:
        return [lesson for kept in self._lessons.values() for lesson in kept]

    def prepare(self) -> None:
        """Load the embedding model and embed every entry now (instead of at the first search)."""
        if self.embedder is not None:
            self.embedder.encode(["warm up"])
            for partition in self._partitions.values():
                partition.ensure_vectors()

    def search(self, query: str, *, env: str | None = None, k: int = 3) -> list[tuple[Experience, Hit]]:
        """The ``k`` most relevant experiences for ``query`` (in ``env``, or in every env)."""
        self.refresh()
        envs = [env] if env is not None else list(self._partitions)
        vector = self.embedder.encode([query])[0] if self.embedder is not None and self._entries else None
        hits = [h for e in envs if e in self._partitions
                for h in self._partitions[e].search(query, k, query_vector=vector)]
        hits.sort(key=lambda h: -h.score)
        return [(self._entries[h.id], h) for h in hits[:k]]

    def stats(self) -> dict[str, Any]:
        """Counts for people inspecting the store (``mulligan memory stats``)."""
        entries = list(self._entries.values())
        by_env = Counter(e.env for e in entries)
        return {
            "path": str(self.root),
            "experiences": len(entries),
            "by_env": dict(sorted(by_env.items())),
            "lessons": sum(len(v) for v in self._lessons.values()),
            "tasks_with_lessons": len(self._lessons),
            "successes_merged": sum(e.count - 1 for e in entries),
            "uses": sum(e.uses for e in entries),
            "wins_when_used": sum(e.wins for e in entries),
            "evicted": self.counts["evicted entries"],
            "events": sum(v for k, v in self.counts.items() if k != "evicted entries"),
            "log_bytes": self.log.size(),
            "cached_vectors": len(self.cache) if self.cache is not None else None,
            "ivf_envs": sorted(env for env, p in self._partitions.items() if p.ivf is not None),
        }

    # -- writing ------------------------------------------------------------------------------
    def _write(self, events: list[dict[str, Any]]) -> None:
        """Append and apply events; the caller holds the lock and has refreshed."""
        if not self.log.size():
            events = [{"op": "meta", "format": FORMAT}, *events]
        self.log.append(events)
        self.refresh()

    def add(self, entry: Experience) -> tuple[str, str]:
        """Store a success, merging it into a near-duplicate if there is one.

        Returns:
            The id of the entry that now holds it, and ``added``, ``merged`` or ``known`` (an
            entry with its id is already stored: an import of the same file twice).
        """
        with self.log.locked():
            self.refresh()
            if entry.id in self._entries:
                return entry.id, "known"
            twin = self._duplicate_of(entry)
            if twin is not None:
                old = self._entries[twin]
                shorter = len(entry.steps) < len(old.steps)
                self._write([{
                    "op": "merge", "id": twin, "time": entry.updated,
                    "steps": [s.model_dump() for s in entry.steps] if shorter else None,
                    "task_id": entry.task_ids[0] if entry.task_ids else None,
                    "traj_id": entry.traj_ids[0] if entry.traj_ids else None,
                }])
                return twin, "merged"
            self._write([{"op": "add", "entry": entry.model_dump(mode="json")}])
            self._enforce_capacity(entry.env)
            return entry.id, "added"

    def add_trajectory(self, traj: Trajectory, *, critic_score: float | None = None) -> str | None:
        """Store a successful (or critic-approved) trajectory's experience; None if it has none."""
        entry = experience_from(traj, critic_score=critic_score)
        return self.add(entry)[0] if entry is not None else None

    def _duplicate_of(self, entry: Experience) -> str | None:
        partition = self._partitions.get(entry.env)
        if partition is None or not len(partition):
            return None
        for slot, _ in partition.bm25.search(tokens(entry.text), 5):
            if same_words(entry.text, partition.texts[slot], DUPLICATE_WORDS):
                return partition.ids[slot]
        near = partition.nearest(entry.text)
        if near is not None and near[1] >= DUPLICATE_COSINE:
            return near[0]
        return None

    def _enforce_capacity(self, env: str) -> None:
        entries = self.experiences(env)
        excess = len(entries) - self.capacity
        if excess > 0:
            entries.sort(key=lambda e: (usefulness(e), e.updated))
            self._write([{"op": "evict", "ids": [e.id for e in entries[:excess]]}])

    def record_use(self, ids: list[str], won: bool) -> None:
        """Remember that an episode was shown ``ids`` and whether it won (feeds :func:`usefulness`)."""
        if ids:
            with self.log.locked():
                self.refresh()
                self._write([{"op": "use", "ids": list(ids), "won": bool(won)}])

    def add_lesson(self, lesson: Lesson) -> bool:
        """Keep a lesson for its (env, task); False when that task already holds the same text."""
        with self.log.locked():
            self.refresh()
            if any(old.text == lesson.text for old in self._lessons.get((lesson.env, lesson.task_id), ())):
                return False
            self._write([{"op": "lesson", "lesson": lesson.model_dump(mode="json")}])
            return True

    # -- whole-store operations ---------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """The live state as events (what ``export`` writes and ``compact`` keeps)."""
        events: list[dict[str, Any]] = [{"op": "meta", "format": FORMAT}]
        events += [{"op": "add", "entry": e.model_dump(mode="json")} for e in self._entries.values()]
        events += [{"op": "lesson", "lesson": lesson.model_dump(mode="json")} for lesson in self.all_lessons()]
        return events

    def export(self, path: str | Path) -> int:
        """Write the live entries and lessons to a JSONL file; returns the records written."""
        from mulligan.records import append_jsonl

        self.refresh()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        events = self.snapshot()
        append_jsonl(tmp, events)
        tmp.replace(path)
        return len(events) - 1

    def import_(self, path: str | Path) -> Counter[str]:
        """Add the entries and lessons of an exported file (duplicates merge); counts what happened.

        All or nothing: the whole file is read and checked before anything is written, so a bad
        line (named by file and line) imports nothing. Events of a raw ``log.jsonl`` that are not
        entries or lessons (``use``, ``merge``, ``evict``) are skipped and counted as
        ``skipped <op>``.

        Raises:
            CorruptFileError: A line that is not JSON, not an object, of an unknown kind, or an
                entry or lesson that does not validate.
        """
        done: Counter[str] = Counter()
        items = read_import_file(path, done)
        with self.log.locked():
            for item in items:
                if isinstance(item, Experience):
                    done[self.add(item)[1]] += 1
                else:
                    done["lessons" if self.add_lesson(item) else "known lessons"] += 1
        return done

    def compact(self) -> int:
        """Rewrite the log as its live state (drops evicted entries and old events); returns bytes saved."""
        with self.log.locked():
            self.refresh()
            before = self.log.size()
            self.log.replace(self.snapshot())
            self.refresh()
            return before - self.log.size()

    def close(self) -> None:
        """Save the derived files (embedding cache, IVF indexes); the log needs nothing."""
        if self.cache is not None:
            self.cache.save()
        for partition in self._partitions.values():
            partition.save()

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


SKIPPED_OPS = ("meta", "use", "merge", "evict")
"""Log events an import passes over: the format line, and the history of a raw ``log.jsonl``."""


def read_import_file(path: str | Path, skipped: Counter[str]) -> list[Experience | Lesson]:
    """The entries and lessons of an export file, every line checked; skipped lines are counted in
    ``skipped`` (``skipped <op>``; the format line is not counted).

    Raises:
        CorruptFileError: The first bad line, with file and line number.
    """
    items: list[Experience | Lesson] = []
    for number, event in iter_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(event, dict):
            raise CorruptFileError(f"{where}: not a memory record (a JSON object with 'op'), but {type(event).__name__}")
        op = event.get("op")
        try:
            if op == "add":
                items.append(Experience.model_validate(event.get("entry")))
            elif op == "lesson":
                items.append(Lesson.model_validate(event.get("lesson")))
            elif op in SKIPPED_OPS:
                if op != "meta":
                    skipped[f"skipped {op}"] += 1
            else:
                raise CorruptFileError(f"{where}: unknown record kind op={op!r}; an export holds 'add' and "
                                       "'lesson' records (nothing was imported)")
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "the record"
            raise CorruptFileError(f"{where}: bad {'entry' if op == 'add' else 'lesson'} ({field}: {first['msg']}); "
                                   "nothing was imported") from None
    return items
