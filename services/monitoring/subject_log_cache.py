"""The recently rebuilt subjects' logs, kept validated in memory so the next batch does not read them back.

A case's events arrive over days, so most consumer batches touch subjects that already have a log; reading
and re-validating it every time was the larger part of a realistic ingest. The cache is only a shortcut
for the log in the database, and stays one because:

- an entry is written after the transaction that wrote those events commits (never from a rolled-back one);
- only this process's consumer writes a subject's log while it owns the subject's partition, and the whole
  cache is dropped whenever partitions are assigned or revoked (another instance may have written since);
- it is bounded (least recently used subjects leave first): a miss reads the database, as without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from services.monitoring.domain.subjects import Recorded

SubjectKey = tuple[str, str]  # (subject type, subject number)


class SubjectLogCache:
    def __init__(self, max_subjects: int) -> None:
        self.max_subjects = max_subjects
        self._entries: OrderedDict[SubjectKey, tuple[Recorded, ...]] = OrderedDict()
        # The consumer's worker thread reads and fills it; the event loop drops it on a rebalance.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Iterable[SubjectKey]) -> dict[SubjectKey, list[Recorded]]:
        found: dict[SubjectKey, list[Recorded]] = {}
        with self._lock:
            for key in keys:
                events = self._entries.get(key)
                if events is None:
                    self.misses += 1
                    continue
                self._entries.move_to_end(key)
                found[key] = list(events)
                self.hits += 1
        return found

    def put_many(self, logs: dict[SubjectKey, list[Recorded]]) -> None:
        if self.max_subjects <= 0:
            return
        with self._lock:
            for key, events in logs.items():
                self._entries[key] = tuple(events)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_subjects:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
