"""The caller's X-Request-Id is taken only when it is a short token of safe characters."""

from __future__ import annotations

import pytest

from gateway.middleware import _incoming_request_id


def scope(*values: bytes) -> dict[str, object]:
    return {"headers": [(b"x-request-id", v) for v in values]}


@pytest.mark.parametrize("given", [b"rid-1", b"0f8b8a0b-7b02-4f8c-9749-0509335bce5c", b"01HZX3:trace.span_1"])
def test_a_safe_request_id_is_kept(given: bytes) -> None:
    assert _incoming_request_id(scope(given)) == given.decode()


@pytest.mark.parametrize("given", [b"", b"a" * 129, b"<script>", b"id with spaces", b"x\r\nSet-Cookie: a=b",
                                   "请求".encode()])
def test_anything_else_is_replaced_by_one_of_ours(given: bytes) -> None:
    rid = _incoming_request_id(scope(given))
    assert rid != given.decode("latin-1") and len(rid) == 32 and rid.isalnum()
