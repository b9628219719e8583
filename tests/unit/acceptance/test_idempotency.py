"""Idempotency-Key plumbing without a database: which requests count as the same, which keys are usable,
when a record has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.idempotency import MAX_KEY_LENGTH, check_key, is_expired, request_hash
from services.common.problems import Problem

BODY = {"item_code": "X1", "region_code": "320102001000",
        "applicant": {"name": "张三", "id_number": "11010519491231002X"}, "materials": [{"code": "M01"}]}


def test_the_same_request_re_encoded_has_the_same_fingerprint() -> None:
    reordered = {"materials": [{"code": "M01"}], "region_code": "320102001000",
                 "applicant": {"id_number": "11010519491231002X", "name": "张三"}, "item_code": "X1"}
    assert request_hash("POST", "/api/v1/applications", BODY) == request_hash("post", "/api/v1/applications",
                                                                              reordered)
    assert len(request_hash("POST", "/p", BODY)) == 64


@pytest.mark.parametrize("change", [
    ("POST", "/api/v1/applications/X/withdraw", BODY),  # another target
    ("PUT", "/api/v1/applications", BODY),  # another method
    ("POST", "/api/v1/applications", BODY | {"region_code": "320102002000"}),  # another value
    ("POST", "/api/v1/applications", BODY | {"materials": [{"code": "M01"}, {"code": "M02"}]}),
    ("POST", "/api/v1/applications", {k: v for k, v in BODY.items() if k != "materials"}),
])
def test_a_different_request_has_a_different_fingerprint(change: tuple[str, str, dict[str, object]]) -> None:
    assert request_hash(*change) != request_hash("POST", "/api/v1/applications", BODY)


def test_a_missing_key_is_refused_only_where_required() -> None:
    assert check_key(None, required=False) is None
    assert check_key("", required=False) is None
    with pytest.raises(Problem) as refused:
        check_key(None, required=True)
    assert (refused.value.status, refused.value.slug) == (400, "idempotency-key-required")


@pytest.mark.parametrize("key", ["k", "9f2c1b1e-2b1f-4c53-9d0a-6f1e0e7a2b11", "A" * MAX_KEY_LENGTH, "a:b/c=d"])
def test_usable_keys(key: str) -> None:
    assert check_key(key, required=True) == key


@pytest.mark.parametrize("key", ["A" * (MAX_KEY_LENGTH + 1), "has space", "键", "tab\there", "line\nbreak"])
def test_unusable_keys_are_a_bad_request(key: str) -> None:
    with pytest.raises(Problem) as refused:
        check_key(key, required=False)
    assert (refused.value.status, refused.value.slug) == (400, "idempotency-key-invalid")


def test_a_record_expires_at_the_end_of_its_retention() -> None:
    created = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    day = timedelta(hours=24)
    assert not is_expired(created, created + day - timedelta(seconds=1), day)
    assert is_expired(created, created + day, day)
