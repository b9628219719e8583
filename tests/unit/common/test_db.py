from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, Table, insert, select, text
from sqlalchemy.exc import StatementError

from services.common.db import (
    UtcDateTime,
    make_engine,
    make_read_session_factory,
    make_session_factory,
    new_metadata,
)

metadata = new_metadata()
stamp = Table("stamp", metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_an_aware_instant_comes_back_the_same_instant_in_utc(engine: Engine) -> None:
    shanghai_morning = datetime(2025, 9, 30, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(insert(stamp).values(id=1, at=shanghai_morning))
    with engine.connect() as conn:
        back = conn.execute(select(stamp.c.at).where(stamp.c.id == 1)).scalar_one()
    assert back == shanghai_morning
    assert back.tzinfo is UTC
    assert back == datetime(2025, 9, 30, 1, 30, tzinfo=UTC)


def test_a_comparison_binds_through_the_type(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(stamp).values(id=1, at=datetime(2025, 9, 30, 1, 30, tzinfo=UTC)))
        # 09:00 in Shanghai is 01:00 UTC: earlier than the stored instant, though its digits are later.
        since = datetime(2025, 9, 30, 9, 0, tzinfo=timezone(timedelta(hours=8)))
        assert conn.execute(select(stamp.c.id).where(stamp.c.at >= since)).scalars().all() == [1]


def test_none_stays_none(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(stamp).values(id=1, at=None))
        assert conn.execute(select(stamp.c.at)).scalar_one() is None


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(StatementError) as caught:
        conn.execute(insert(stamp).values(id=1, at=datetime(2025, 9, 30, 9, 30)))
    assert isinstance(caught.value.orig, ValueError)


def test_readers_do_not_take_the_write_lock(tmp_path: Path) -> None:
    """A read-only session runs beside a writer that holds the lock; a writing session would wait."""
    engine = make_engine(f"sqlite:///{tmp_path}/lock.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    writer = make_session_factory(engine)
    reader = make_read_session_factory(engine)
    with writer.begin() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        with reader() as other:  # would block for busy_timeout if it began IMMEDIATE
            assert other.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    engine.dispose()
