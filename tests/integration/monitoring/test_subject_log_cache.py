"""The consumer's in-memory shortcut for subject logs gives exactly the clocks the database log gives, and a
rolled-back transaction never reaches it (real SQLite, the handlers as the consumer calls them)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from services.common.contracts import Envelope
from services.common.contracts.payloads import EventPayload
from services.monitoring import handlers
from services.monitoring.adapters.tables import supervision_clock
from services.monitoring.subject_log_cache import SubjectLogCache
from tests.integration.monitoring.test_case_clock_flow import SH
from tests.integration.monitoring.test_catch_up_from_log import case_events, context, database

NOW = datetime(2025, 11, 1, tzinfo=UTC)
START = datetime(2025, 9, 30, 10, tzinfo=SH)


def cached_context(sessions: sessionmaker[Session], size: int = 100) -> handlers.Supervision:
    ctx = context()
    ctx.log_cache = SubjectLogCache(size)

    def committed(session: Session) -> None:  # as SupervisionService does after each commit
        pending = session.info.pop("supervision", None)
        if pending is not None and ctx.log_cache is not None:
            ctx.log_cache.put_many(pending.logs)

    event.listen(sessions, "after_commit", committed)
    return ctx


def apply(sessions: sessionmaker[Session], ctx: handlers.Supervision, events: list[EventPayload],
          fail: bool = False) -> None:
    """One consumer batch: the events buffered, then flushed and committed (or rolled back)."""
    with pytest.raises(RuntimeError) if fail else contextlib.nullcontext(), sessions.begin() as session:
        for payload in events:
            handlers.log_event(session, Envelope.wrap(payload, source="/test"), payload)
        handlers.flush(session, ctx, now=NOW)
        if fail:
            raise RuntimeError("the batch fails after its flush")


def clocks(sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    with sessions() as session:
        rows = session.execute(select(supervision_clock)).all()
    return {r.clock_id.split(":", 2)[2]: (r.state, r.verdict, r.limits, r.level_instants, r.next_timer_at)
            for r in rows}


def test_batches_through_the_cache_give_the_clocks_of_the_database_log(tmp_path: Path) -> None:
    received, step, completed, accepted = case_events("C-1", START)
    plain = database(tmp_path / "plain")
    through_cache = database(tmp_path / "cache")
    plain_ctx, cache_ctx = context(), cached_context(through_cache)
    for batch in ([received, accepted], [step], [completed]):
        apply(plain, plain_ctx, batch)
        apply(through_cache, cache_ctx, batch)
    assert cache_ctx.log_cache is not None and cache_ctx.log_cache.hits == 2  # the 2nd and 3rd batch
    assert clocks(through_cache) == clocks(plain)
    assert clocks(plain)["handling"][0] == "closed"


def test_a_rolled_back_batch_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    received, step, completed, accepted = case_events("C-2", START)
    sessions = database(tmp_path)
    ctx = cached_context(sessions)
    assert ctx.log_cache is not None
    apply(sessions, ctx, [received, accepted])
    before = ctx.log_cache.get_many([("case", "C-2")])[("case", "C-2")]
    apply(sessions, ctx, [step, completed], fail=True)
    after = ctx.log_cache.get_many([("case", "C-2")])[("case", "C-2")]
    assert [e.event_id for e in after] == [e.event_id for e in before] and len(after) == 2
    apply(sessions, ctx, [step, completed])  # delivered again after the failure: the clock closes as usual
    assert clocks(sessions)["handling"][0] == "closed"


def test_the_cache_keeps_the_most_recently_used_subjects() -> None:
    cache = SubjectLogCache(2)
    cache.put_many({("case", "A"): [], ("case", "B"): []})
    cache.get_many([("case", "A")])  # A used: B is now the oldest
    cache.put_many({("case", "C"): []})
    assert set(cache.get_many([("case", "A"), ("case", "B"), ("case", "C")])) == {("case", "A"), ("case", "C")}
    cache.clear()
    assert len(cache) == 0 and cache.get_many([("case", "A")]) == {}
