"""Database plumbing: engines tuned for SQLite or PostgreSQL, naming conventions, Alembic upgrade.

Services use the synchronous SQLAlchemy engine and run one whole unit of work per thread hop:
measured on this machine it is about four times faster than the async engine over aiosqlite
(see docs/decisions.md).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Dialect, Engine, MetaData, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator

READ_ONLY = "zwfw_read_only"
# A writer that must not wait: it begins only if SQLite's writer slot is free at once, in this process and in
# every other, and raises WriterBusy otherwise. For writes made on an event loop, where waiting for another
# writer would stop every request of the process (the gateway's audit log, gateway/audit/store.py).
NO_WAIT = "zwfw_no_wait"
# SQLite has one writer at a time. Writers of one process (request threads, consumers, the relay) queue on a
# lock of this process before BEGIN IMMEDIATE, and the next one starts the moment the last one returns its
# connection. Left to SQLite, a waiting writer polls in sleeps growing to 100 ms (its busy handler), and
# under a steady 200 submissions/s an unlucky request slept for seconds (docs/decisions.md 33). SQLite's
# own locking still orders this process against others (migrations, tools, a second process).
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()
_HOLDS_WRITER_LOCK = "zwfw_holds_writer_lock"
_BUSY_TIMEOUT_MS = 30000
WRITER_LOCK_TIMEOUT_SECONDS = 30.0  # as busy_timeout: a writer that never finishes fails the others, not hangs


class WriterBusy(Exception):
    """A NO_WAIT write found the writer slot taken (by a thread of this process or by another process)."""


def _writer_lock(path: str) -> threading.Lock:
    key = str(Path(path).resolve())
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and always handed back aware, whatever the database.

    SQLite has no time zone type: DateTime(timezone=True) writes the wall-clock digits and drops the
    zone, so a +08:00 value would be stored eight hours off and read back naive. PostgreSQL keeps the
    zone (timestamptz). Every instant we store is UTC, so this type converts on the way in, refuses a
    naive value (its zone is unknown), and attaches or normalises to UTC on the way out. The DDL is
    that of DateTime(timezone=True): migrations need not change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: store an aware instant")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    # JSON columns (event logs, clocks, outbox headers) through orjson: the standard library's encoder was a
    # tenth of monitoring's ingest time.
    kwargs.setdefault("json_serializer", _json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        # An in-memory database is private to its connection: nothing to queue for.
        writer_lock = _writer_lock(path) if path and path != ":memory:" else None

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; we issue BEGIN IMMEDIATE ourselves
            # so two writers queue on busy_timeout instead of failing on lock upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Readers take no write lock (WAL lets them run beside the writer); writers queue up front.
            if conn.get_execution_options().get(READ_ONLY) or writer_lock is None:
                conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")
                return
            info = conn.connection.info  # the pooled connection's, kept until it is returned to the pool
            no_wait = bool(conn.get_execution_options().get(NO_WAIT))
            if not info.get(_HOLDS_WRITER_LOCK):
                if no_wait:
                    if not writer_lock.acquire(blocking=False):
                        raise WriterBusy("another writer of this process holds the database")
                elif not writer_lock.acquire(timeout=WRITER_LOCK_TIMEOUT_SECONDS):  # read at call time (tests)
                    raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked (writer queue)"))
                info[_HOLDS_WRITER_LOCK] = True
            try:
                if no_wait:
                    _begin_without_waiting(conn)
                else:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(info)
                raise

        def _begin_without_waiting(conn: Any) -> None:
            # Another process's writer: SQLite answers SQLITE_BUSY at once with no busy handler. In WAL mode only
            # BEGIN IMMEDIATE waits for a lock (a commit takes none it does not hold), so the handler is back
            # for everything after it.
            raw = conn.connection.dbapi_connection
            raw.execute("PRAGMA busy_timeout=0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise WriterBusy("another process holds the database") from exc
                raise
            finally:
                raw.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")

        def _release(info: dict[str, Any]) -> None:
            if info.pop(_HOLDS_WRITER_LOCK, False) and writer_lock is not None:
                writer_lock.release()

        # Returned to the pool after its commit or rollback, or thrown away: the next writer may begin.
        @event.listens_for(engine, "checkin")
        def _checkin(_dbapi_connection: Any, record: Any) -> None:
            _release(record.info)

        @event.listens_for(engine, "invalidate")
        def _invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
            _release(record.info)

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions for units of work that write."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that only read: on SQLite they begin without taking the write lock."""
    return sessionmaker(bind=engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def upgrade_database(url: str, migrations_dir: Path) -> None:
    """Runs this service's Alembic migrations to their head(s); called at start-up and by `make run`.

    "heads": work on independent tables may branch from one revision; a merge revision joins the branches."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "heads")
