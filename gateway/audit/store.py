"""Writing the audit log with group commit, and reading it back.

Group commit: `record` puts the entry on a queue and waits for its commit; one writer task takes everything
queued so far (up to max_batch) and writes it in one transaction. Under load many requests share one commit;
alone, an entry is committed at once.

The transaction reads the chain's tail (last seq and entry_hash) *inside* itself, after taking the write lock —
BEGIN IMMEDIATE on SQLite (services.common.db), `LOCK TABLE … IN EXCLUSIVE MODE` on PostgreSQL (readers are not
blocked; a row lock on the last entry would not stop a second writer from reading the same tail) — so several
gateway processes sharing the database append to one chain and never fork it. The primary key on seq is the
second guard.

Where the write runs. On SQLite, on the event loop, as decision 33 does for the services' short writes: a batch
is a few statements, about a millisecond, and the answers it holds go out in the same turn of the loop. In a
thread, each batch cost two more wake-ups (the writer thread's, then the loop's), each a wait for a core while
the platform's other processes are busy on the same two cores, and every SQLite call gave the interpreter lock
away to the loop and waited to get it back (decision 33's convoy; decision 39). Only a batch that would wait
goes to the thread: the gateway's database may be shared by several processes, and a BEGIN IMMEDIATE that waits
for another process's (or this process's identity thread's) lock must wait there, not freeze every request of
this one. So the loop tries without waiting (services.common.db.NO_WAIT) and hands the batch to the one
dedicated thread when the writer slot is taken. On PostgreSQL every batch goes to the thread, where the network
waits overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, func, select, text

from gateway.audit.chain import GENESIS, Verdict, entry_hash, verify
from gateway.store.tables import audit_log
from services.common.db import NO_WAIT, READ_ONLY, WriterBusy

log = logging.getLogger(__name__)

_PAGE = 2000  # rows per query while verifying
# Built once (decision 32): made anew per batch, SQLAlchemy spent more CPU building their cache keys than SQLite
# spent writing.
_TAIL = select(audit_log.c.seq, audit_log.c.entry_hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = audit_log.insert()
_LOCK_PG = text("LOCK TABLE audit_log IN EXCLUSIVE MODE")


class AuditWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[int]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        # On the loop: SQLite only (see the module's docstring); the engine that never waits for the writer slot.
        self._inline_engine = engine.execution_options(**{NO_WAIT: True}) if engine.dialect.name == "sqlite" else None
        self.inline_batches = self.thread_batches = 0  # where the batches went (the tests read them)

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Writes what is queued, then stops."""
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._task = self._queue = self._executor = None

    async def record(self, entry: dict[str, Any]) -> int:
        """Appends `entry` (the table's columns but seq and the hashes) and returns its seq once committed."""
        if self._queue is None:
            raise RuntimeError("the audit writer is not running")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, done))
        return await done

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                seqs = await self._write([entry for entry, _ in batch], loop)
            except Exception as exc:
                log.exception("audit log write failed for %d entries", len(batch))
                for _, done in batch:
                    if not done.done():  # a waiter whose client went away was cancelled
                        done.set_exception(exc)
            else:
                for (_, done), seq in zip(batch, seqs, strict=True):
                    if not done.done():
                        done.set_result(seq)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _write(self, entries: list[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> list[int]:
        if self._inline_engine is not None:
            try:
                seqs = self._append(entries, self._inline_engine)
            except WriterBusy:
                pass  # another writer holds the slot: wait for it in the thread
            else:
                self.inline_batches += 1
                return seqs
        seqs = await loop.run_in_executor(self._executor, self._append, entries, self.engine)
        self.thread_batches += 1
        return seqs

    @staticmethod
    def _append(entries: list[dict[str, Any]], engine: Engine) -> list[int]:
        with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite
            if conn.dialect.name == "postgresql":
                conn.execute(_LOCK_PG)
            tail = conn.execute(_TAIL).first()
            seq, prev = (tail[0], tail[1]) if tail else (0, GENESIS)
            rows = []
            for entry in entries:
                seq += 1
                row = entry | {"seq": seq, "prev_hash": prev}
                prev = row["entry_hash"] = entry_hash(prev, row)
                rows.append(row)
            conn.execute(_INSERT, rows)
        return [row["seq"] for row in rows]


class AuditReader:
    """Queries on a connection that takes no write lock (WAL readers run beside the writer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.execution_options(**{READ_ONLY: True})

    def verify(self) -> Verdict:
        return verify(self._all_rows())

    def _all_rows(self) -> Iterator[Mapping[str, Any]]:
        after = 0
        while True:
            with self.engine.connect() as conn:
                page = conn.execute(
                    select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(_PAGE)
                ).mappings().all()
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1]["seq"]

    def entries(self, *, after_seq: int, limit: int, region_prefix: str = "", subject: str | None = None,
                method: str | None = None, status: int | None = None) -> list[dict[str, Any]]:
        query = select(audit_log).where(audit_log.c.seq > after_seq)
        if region_prefix:
            query = query.where(audit_log.c.region_code.startswith(region_prefix, autoescape=True))
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        if method is not None:
            query = query.where(audit_log.c.method == method)
        if status is not None:
            query = query.where(audit_log.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(audit_log.c.seq).limit(limit)).mappings().all()
        return [dict(row) for row in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
