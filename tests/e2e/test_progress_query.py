"""The public progress query through the gateway: no login, and its per-address rate limit holds even when
a caller forges X-Forwarded-For (the gateway appends the address it saw, and acceptance trusts only that)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Gateway

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_the_progress_query_is_public_and_a_forged_forwarded_address_does_not_reset_its_limit(
        gateway: Gateway) -> None:
    answers = []
    for i in range(12):
        # A different made-up address each time: if acceptance believed it, no limit would ever be reached.
        answers.append(gateway.call("GET", "/api/v1/applications/progress",
                                    params={"case_no": f"320102-20261125-{i:05d}", "id_suffix": "00002X"},
                                    headers={"X-Forwarded-For": f"10.0.{i}.{uuid.uuid4().int % 250}"}))
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 404 and answers[0].headers["content-type"].startswith("application/problem+json")
    assert 429 in statuses, (statuses, answers[0].text)
    limited = answers[statuses.index(429)]
    assert int(limited.headers["Retry-After"]) > 0
    assert set(statuses) <= {404, 429}  # nobody logged in, and never a 401
