"""信息处理费 (国办函〔2020〕109号): count bands per applicant per month, page bands per request, never both."""

from __future__ import annotations

import pytest

from services.disclosure.domain.processing_fee import (
    FeeError,
    FeeMode,
    fee_for_nth_request,
    fee_for_pages,
    price,
)


@pytest.mark.parametrize(("n", "yuan"), [
    (1, 0), (10, 0),  # the first 10 of the month are free
    (11, 100), (30, 100),  # 11th–30th: ¥100 each
    (31, 200), (40, 200),  # then bands of 10, each ¥100 dearer
    (41, 300), (50, 300), (51, 400), (100, 800),
])
def test_by_count(n: int, yuan: int) -> None:
    assert fee_for_nth_request(n) == yuan


def test_a_months_total_by_count() -> None:
    # 35 requests in a month: 10 free, 20 × ¥100, 5 × ¥200.
    assert sum(fee_for_nth_request(n) for n in range(1, 36)) == 20 * 100 + 5 * 200


@pytest.mark.parametrize(("pages", "yuan"), [
    (0, 0), (30, 0),  # up to 30 pages free
    (31, 10), (100, 700),  # pages 31–100: ¥10 each
    (101, 720), (150, 700 + 50 * 20), (200, 700 + 2000),  # 101–200: ¥20 each
    (201, 2700 + 40), (250, 2700 + 50 * 40),  # beyond 200: ¥40 each
])
def test_by_volume(pages: int, yuan: int) -> None:
    assert fee_for_pages(pages) == yuan


def test_never_both_on_one_request() -> None:
    with pytest.raises(FeeError, match="不得同时适用"):
        price(FeeMode.by_count, 12, pages=50)
    with pytest.raises(FeeError, match="页数"):
        price(FeeMode.by_volume, 12, pages=None)
    assert price(FeeMode.by_count, 12, None).amount_yuan == 100
    assert price(FeeMode.by_volume, 1, 150).amount_yuan == 1700
    assert price(FeeMode.none, 50, None).amount_yuan == 0


def test_invalid_inputs() -> None:
    with pytest.raises(FeeError):
        fee_for_nth_request(0)
    with pytest.raises(FeeError):
        fee_for_pages(-1)
