"""The memory's event log: an append-only JSONL file, one writer at a time, any number of readers.

Crash safety comes from three rules:

* every event is one line, written with one ``write`` and fsynced before :meth:`EventLog.append`
  returns, so a process killed half-way leaves at most a torn *last* line;
* a reader only consumes bytes up to the last newline, so it never sees a half-written event
  (the writer may still be writing it, or may have died);
* a writer holds an exclusive ``flock`` on ``lock`` while it appends and first cuts any torn tail
  a killed writer left, so torn bytes never end up in the middle of the file.

Readers take no lock: they read the file from the offset they reached last time. A compaction
replaces the file whole (``os.replace``); readers notice the new inode and read it from the start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

from mulligan.errors import CorruptFileError
from mulligan.records import repair_jsonl

LOG_NAME = "log.jsonl"
LOCK_NAME = "lock"


class EventLog:
    """The ``log.jsonl`` of a memory directory, read incrementally."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = self.root / LOG_NAME
        self.lock_path = self.root / LOCK_NAME
        self.offset = 0
        self._inode: int | None = None
        self._lock_depth = 0
        self._lock_file: Any = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' lock (re-entrant within one process)."""
        if self._lock_depth == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.lock_path, "a")
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None

    def read_new(self) -> tuple[list[dict[str, Any]], bool]:
        """Events appended since the last call, and whether the file was replaced (read from 0).

        Raises:
            CorruptFileError: A complete line that is not JSON (never written by this class).
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            restarted = self.offset != 0
            self.offset, self._inode = 0, None
            return [], restarted
        restarted = False
        if self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset):
            self.offset, restarted = 0, True
        self._inode = st.st_ino
        if st.st_size == self.offset:
            return [], restarted
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # bytes after the last newline are a write in progress or torn
        events = []
        start = self.offset
        for number, line in enumerate(data[:end].split(b"\n")[:-1]):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError as e:
                raise CorruptFileError(f"{self.path}: unreadable event after byte {start} (line {number + 1} "
                                       f"read from there): {line[:120]!r}") from e
        self.offset += end
        return events, restarted

    def append(self, events: list[dict[str, Any]]) -> None:
        """Append events whole and fsync; the caller holds :meth:`locked`."""
        if not events:
            return
        assert self._lock_depth > 0, "append without the writers' lock"
        self.root.mkdir(parents=True, exist_ok=True)
        repair_jsonl(self.path)
        data = b"".join(json.dumps(e, separators=(",", ":")).encode("utf-8") + b"\n" for e in events)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, events: list[dict[str, Any]]) -> None:
        """Write a new log holding exactly ``events`` and swap it in atomically (compaction)."""
        assert self._lock_depth > 0, "replace without the writers' lock"
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "wb") as f:
            for e in events:
                f.write(json.dumps(e, separators=(",", ":")).encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.root)

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
