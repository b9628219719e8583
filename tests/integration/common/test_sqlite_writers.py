"""SQLite writers of one process queue on the process's writer lock (services/common/db.py): the next one
begins as soon as the last one returns its connection, never after one of SQLite's busy-handler sleeps,
and a writer that never finishes fails the others after the timeout instead of hanging them."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import OperationalError

from services.common import db
from services.common.db import make_engine, make_read_session_factory, make_session_factory

metadata = MetaData()
counter = Table("counter", metadata, Column("id", Integer, primary_key=True), Column("value", Integer))


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return url


def test_the_next_writer_begins_as_soon_as_the_last_one_commits(url: str) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    first_holds, release_first = threading.Event(), threading.Event()
    began_at: list[float] = []
    committed_at: list[float] = []

    def first() -> None:
        with sessions.begin() as session:
            session.execute(insert(counter).values(value=1))
            first_holds.set()
            release_first.wait(5)
        committed_at.append(time.perf_counter())

    def second() -> None:
        with sessions.begin() as session:
            session.execute(insert(counter).values(value=2))  # the connection begins (and queues) here
            began_at.append(time.perf_counter())

    one = threading.Thread(target=first)
    one.start()
    assert first_holds.wait(5)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.3)  # long enough for SQLite's busy handler to have backed off to its 100 ms sleeps
    assert began_at == []  # queued behind the first writer
    release_first.set()
    one.join(5)
    two.join(5)
    # Within a few ms of the commit, not at the next of the busy handler's sleeps.
    assert began_at and began_at[0] - committed_at[0] < 0.02, began_at[0] - committed_at[0]
    with make_read_session_factory(engine)() as session:
        assert sorted(session.execute(select(counter.c.value)).scalars()) == [1, 2]
    engine.dispose()


def test_readers_do_not_queue_behind_a_writer(url: str) -> None:
    engine = make_engine(url)
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:
        with make_session_factory(engine).begin() as session:
            session.execute(insert(counter).values(value=1))
            holding.set()
            done.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(5)
    started = time.perf_counter()
    with make_read_session_factory(engine)() as session:
        assert session.execute(select(counter.c.value)).scalars().all() == []  # WAL: the committed state
    assert time.perf_counter() - started < 0.1
    done.set()
    thread.join(5)
    engine.dispose()


def test_a_writer_that_never_finishes_fails_the_next_one_after_the_timeout(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "WRITER_LOCK_TIMEOUT_SECONDS", 0.2)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    stuck = sessions()
    stuck.begin()
    stuck.execute(insert(counter).values(value=1))
    failed: list[BaseException] = []

    def next_writer() -> None:
        try:
            with sessions.begin() as session:
                session.execute(insert(counter).values(value=2))
        except OperationalError as exc:
            failed.append(exc)

    thread = threading.Thread(target=next_writer)
    thread.start()
    thread.join(5)
    assert failed and "database is locked" in str(failed[0])
    stuck.rollback()
    stuck.close()
    with sessions.begin() as session:  # the lock is free again once the stuck writer returned its connection
        session.execute(insert(counter).values(value=3))
    engine.dispose()


def _insert_without_waiting(engine: Engine, value: int) -> None:
    with engine.execution_options(**{db.NO_WAIT: True}).begin() as conn:
        conn.execute(insert(counter).values(value=value))


def test_a_no_wait_writer_refuses_at_once_while_another_holds_the_slot_and_then_writes(url: str) -> None:
    engine = make_engine(url)
    # A writer of this process (a thread, here the test's own open transaction) holds the slot.
    with make_session_factory(engine).begin() as session:
        session.execute(insert(counter).values(value=1))
        started = time.perf_counter()
        with pytest.raises(db.WriterBusy):
            _insert_without_waiting(engine, 2)
        assert time.perf_counter() - started < 0.1  # refused, not queued
    # Another process's writer: SQLite's own lock, with no busy handler for the no-wait attempt.
    other = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.perf_counter()
    with pytest.raises(db.WriterBusy):
        _insert_without_waiting(engine, 3)
    assert time.perf_counter() - started < 0.1
    other.execute("ROLLBACK")
    other.close()
    # Free again: the no-wait writer writes, and its connection keeps the busy handler for later writers.
    with engine.execution_options(**{db.NO_WAIT: True}).connect() as conn, conn.begin():
        conn.execute(insert(counter).values(value=4))
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    with make_read_session_factory(engine)() as session:
        assert sorted(session.execute(select(counter.c.value)).scalars()) == [1, 4]
    with make_session_factory(engine).begin() as session:  # the process's lock was released after each attempt
        session.execute(insert(counter).values(value=5))
    engine.dispose()
