"""Idempotency-Key on acceptance's POSTs, over real HTTP, a real SQLite file and the session broker.

A retry answers what the first request answered and creates nothing; a key names one request of one caller;
concurrent retries wait for the first and replay it; refusals and expired records leave the key free.
"""

# ruff: noqa: F811 (the imported `acceptance` fixture is a parameter of every test)

from __future__ import annotations

import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.principal import PrincipalKind, Role
from tests.conftest import principal_headers
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPLETE,
    COUNTY,
    PERSON,
    Acceptance,
    _assert_problem,
    acceptance,
)

pytestmark = pytest.mark.kafka


def _key() -> str:
    return str(uuid.uuid4())


def _submit(service: Acceptance, key: str | None, body: dict[str, Any] | None = None,
            headers: dict[str, str] = CLERK) -> Any:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return service.client.post("/api/v1/applications", json=body or service.application(), headers=headers | extra)


def _keys(service: Acceptance) -> list[tuple[str, str, int]]:
    with sqlite3.connect(service.db) as conn:
        return conn.execute("SELECT principal, key, status_code FROM idempotency_key ORDER BY created_at").fetchall()


@pytest.mark.parametrize("materials", [COMPLETE, COMPLETE[:1]], ids=["accepted", "supplement_requested"])
def test_a_retry_returns_the_first_answer_and_creates_nothing(acceptance: Acceptance,
                                                              materials: list[dict[str, Any]]) -> None:
    key, body = _key(), acceptance.application(materials)
    first = _submit(acceptance, key, body)
    assert first.status_code == 201, first.text
    assert first.headers["idempotent-replayed"] == "false"
    after_first = acceptance.counts()

    # The body re-encoded with its keys in another order is the same request.
    reordered = dict(reversed(list(body.items())))
    for retry in (_submit(acceptance, key, body), _submit(acceptance, key, reordered)):
        assert retry.status_code == 201, retry.text
        assert retry.json() == first.json()
        assert retry.headers["location"] == first.headers["location"]
        assert retry.headers["idempotent-replayed"] == "true"
    assert acceptance.counts() == after_first
    assert _keys(acceptance) == [("u-clerk", key, 201)]
    case_no = first.json()["case_no"]
    assert len(acceptance.outbox_types(case_no)) == (1 if materials == COMPLETE else 2)

    # Without a key a window clerk may still submit (a person at the counter sees the answer): a new case.
    plain = _submit(acceptance, None, body)
    assert plain.status_code == 201 and plain.json()["case_no"] != case_no
    assert "idempotent-replayed" not in plain.headers


def test_the_same_key_with_another_body_is_refused(acceptance: Acceptance) -> None:
    key = _key()
    first = _submit(acceptance, key)
    assert first.status_code == 201, first.text
    before = acceptance.counts()
    other = _submit(acceptance, key, acceptance.application(applicant=PERSON))
    problem = _assert_problem(other, 422)
    assert problem["type"].endswith("/idempotency-key-reused") and problem["header"] == "Idempotency-Key"
    assert acceptance.counts() == before
    # The key still answers its own request.
    again = _submit(acceptance, key)
    assert again.status_code == 201 and again.json() == first.json()


def test_keys_are_scoped_to_the_caller(acceptance: Acceptance) -> None:
    key, body = _key(), acceptance.application()
    other_clerk = principal_headers(Role.window_clerk, COUNTY, subject="u-clerk-2", name="窗口乙")
    mine = _submit(acceptance, key, body)
    theirs = _submit(acceptance, key, body, headers=other_clerk)
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    assert mine.json()["case_no"] != theirs.json()["case_no"]
    assert theirs.headers["idempotent-replayed"] == "false"
    assert sorted(_keys(acceptance)) == sorted([("u-clerk", key, 201), ("u-clerk-2", key, 201)])


def test_concurrent_retries_of_one_key_make_one_case(acceptance: Acceptance) -> None:
    key, body = _key(), acceptance.application()
    before = acceptance.counts()
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda _i: _submit(acceptance, key, body), range(12)))
    assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses]
    assert len({r.json()["case_no"] for r in responses}) == 1
    assert all(r.json() == responses[0].json() for r in responses)
    # Exactly one request did the work; the others waited for it and replayed its answer.
    assert sorted(r.headers["idempotent-replayed"] for r in responses) == ["false"] + ["true"] * 11
    after = acceptance.counts()
    assert (after["case_record"], after["outbox"]) == (before["case_record"] + 1, before["outbox"] + 1)


def test_machine_clients_must_send_a_key(acceptance: Acceptance) -> None:
    platform = principal_headers(Role.platform, COUNTY, subject="provincial-platform", kind=PrincipalKind.machine)
    before = acceptance.counts()
    missing = _submit(acceptance, None, headers=platform)
    assert _assert_problem(missing, 400)["type"].endswith("/idempotency-key-required")
    unusable = _submit(acceptance, "two words", headers=platform)
    assert _assert_problem(unusable, 400)["type"].endswith("/idempotency-key-invalid")
    assert acceptance.counts() == before
    key = _key()
    # A pushed case comes on the provincial channel with the source's receipt time (test_channels.py).
    pushed = acceptance.application(channel="provincial",
                                    received_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    created = _submit(acceptance, key, pushed, headers=platform)
    assert created.status_code == 201, created.text
    assert _submit(acceptance, key, pushed, headers=platform).json() == created.json()
    assert acceptance.counts()["case_record"] == before["case_record"] + 1


def test_a_refused_request_leaves_its_key_free(acceptance: Acceptance) -> None:
    key = _key()
    refused = _submit(acceptance, key, acceptance.application([{"code": "M99", "originals": 1}]))
    _assert_problem(refused, 422)
    assert _keys(acceptance) == []
    # The corrected request under the same key is judged afresh, not refused as a different body.
    corrected = _submit(acceptance, key)
    assert corrected.status_code == 201, corrected.text
    assert corrected.headers["idempotent-replayed"] == "false"


@pytest.fixture
def cleaning_always(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Acceptance:
    """Acceptance that deletes expired records after every keyed request (by default: every 10 minutes)."""
    monkeypatch.setenv("ACCEPTANCE_IDEMPOTENCY_CLEANUP_SECONDS", "0")
    service: Acceptance = request.getfixturevalue("acceptance")
    return service


def test_an_expired_key_may_be_used_again_and_old_records_are_deleted(cleaning_always: Acceptance) -> None:
    acceptance = cleaning_always
    old_key, other_key = _key(), _key()
    first = _submit(acceptance, old_key)
    other = principal_headers(Role.window_clerk, COUNTY, subject="u-clerk-3")
    assert _submit(acceptance, other_key, headers=other).status_code == 201
    # Both records age past the 24 h retention (written as SQLAlchemy writes instants in SQLite).
    aged = (datetime.now(UTC) - timedelta(hours=24, minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(acceptance.db) as conn:
        conn.execute("UPDATE idempotency_key SET created_at = ?", (aged,))
    fresh = _submit(acceptance, old_key, acceptance.application(applicant=PERSON))  # another body: allowed now
    assert fresh.status_code == 201, fresh.text
    assert fresh.headers["idempotent-replayed"] == "false"
    assert fresh.json()["case_no"] != first.json()["case_no"]
    assert _keys(acceptance) == [("u-clerk", old_key, 201)]  # the other caller's expired record is gone too
