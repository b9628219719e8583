"""The information processing fee (信息处理费) of 政府信息公开条例 Art. 42 and 国办函〔2020〕109号.

Disclosure on request is free. Only where an applicant's requests clearly exceed a reasonable amount
may the agency charge, in one of two ways, never both on one request:

- by count (按件计收): per applicant per calendar month (自然月), counted on the applicant's requests
  received in that month;
- by volume (按量计收): per request, on the pages (A4 or equivalent) of the information provided.

Thresholds: 国办函〔2020〕109号《政府信息公开信息处理费管理办法》 第六条, as the platform's domain rules
(domain.md §4, "Fees") summarise it — the policy seeds quote neither 109号 nor the 条例 itself:
- 按件: the 1st–10th request of the month free; the 11th–30th ¥100 each; from the 31st, bands of 10
  requests, each band ¥100 dearer than the one before (31st–40th ¥200, 41st–50th ¥300, …);
- 按量: up to 30 pages free; pages 31–100 ¥10 each; 101–200 ¥20 each; beyond 200 ¥40 each — each
  rate applies to the pages inside its band only (累进, like the count bands).

Whether a request is "clearly excessive" is the agency's judgment, not a computation: the officer
chooses the mode; this module only prices it. Amounts are whole yuan (the 办法 has no fractions).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FeeMode(StrEnum):
    none = "none"  # 不收费 (the rule)
    by_count = "by_count"  # 按件计收
    by_volume = "by_volume"  # 按量计收


FEE_MODE_LABELS = {FeeMode.none: "不收费", FeeMode.by_count: "按件计收", FeeMode.by_volume: "按量计收"}

# 国办函〔2020〕109号 第六条（一）按件计收.
FREE_REQUESTS_PER_MONTH = 10
FIRST_BAND_LAST_REQUEST = 30  # the 11th–30th request
FIRST_BAND_YUAN = 100
FURTHER_BAND_SIZE = 10  # from the 31st: bands of 10 requests
FURTHER_BAND_STEP_YUAN = 100  # each band ¥100 dearer than the one before

# 国办函〔2020〕109号 第六条（二）按量计收: (last page of the band, yuan per page); None = no upper end.
FREE_PAGES = 30
PAGE_BANDS: tuple[tuple[int | None, int], ...] = ((100, 10), (200, 20), (None, 40))


class FeeError(ValueError):
    pass


def fee_for_nth_request(n: int) -> int:
    """按件: the fee for the applicant's n-th request received in one calendar month (n counts from 1)."""
    if n < 1:
        raise FeeError("n counts from 1")
    if n <= FREE_REQUESTS_PER_MONTH:
        return 0
    if n <= FIRST_BAND_LAST_REQUEST:
        return FIRST_BAND_YUAN
    band = (n - FIRST_BAND_LAST_REQUEST - 1) // FURTHER_BAND_SIZE + 1  # 31–40 → 1, 41–50 → 2, …
    return FIRST_BAND_YUAN + band * FURTHER_BAND_STEP_YUAN


def fee_for_pages(pages: int) -> int:
    """按量: the fee for one request's pages, each band's rate on the pages inside that band."""
    if pages < 0:
        raise FeeError("pages must be >= 0")
    total, lower = 0, FREE_PAGES
    for upper, rate in PAGE_BANDS:
        if pages <= lower:
            break
        top = pages if upper is None else min(pages, upper)
        total += (top - lower) * rate
        if upper is None:
            break
        lower = upper
    return total


@dataclass(frozen=True)
class Fee:
    mode: FeeMode
    amount_yuan: int
    basis: str  # how it was priced, for the reply and the record (计费依据)


def price(mode: FeeMode, nth_in_month: int, pages: int | None) -> Fee:
    """One request's fee in the chosen mode. By count needs the request's rank in the applicant's month;
    by volume needs its pages. A mode is chosen per request, so both can never apply to one."""
    if mode is FeeMode.none:
        if pages is not None:
            raise FeeError("不收费时不应填写页数")
        return Fee(mode, 0, "依申请公开不收费（政府信息公开条例第四十二条）")
    if mode is FeeMode.by_count:
        if pages is not None:
            raise FeeError("按件计收与按量计收不得同时适用：按件计收时不应填写页数")
        amount = fee_for_nth_request(nth_in_month)
        return Fee(mode, amount, f"按件计收：本申请人本自然月第 {nth_in_month} 件申请（国办函〔2020〕109号）")
    if pages is None:
        raise FeeError("按量计收须填写页数")
    return Fee(mode, fee_for_pages(pages), f"按量计收：{pages} 页（国办函〔2020〕109号）")
