"""The printable documents of the acceptance outcomes: every field, escaping, dates, masking, applicability."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from services.acceptance.documents import (
    DocumentKind,
    applicable_kinds,
    case_view,
    chinese_date,
    chinese_time,
    render,
)

CASE_NO = "320102001-20261125-00042"
PERSON = {"applicant_type": "1", "name": "欧阳小明", "id_type": "resident_id", "id_number": "11010519491231002X",
          "phone": "13812345678"}
COMPANY = {"applicant_type": "2", "name": "南京某某餐饮有限公司", "id_type": "uscc",
           "id_number": "91110000600037341L"}
CLERK = {"user_id": "u-clerk", "name": "窗口甲", "role": "window_clerk", "department": "区政务服务中心"}
ITEM = {"code": "ITEM-1", "version": 2, "name": "食品经营许可", "department": "区行政审批局", "case_type": "2"}
MATERIALS = [
    {"code": "M01", "name": "申请书", "originals": 1, "copies": 0},
    {"code": "M02", "name": "经营者身份证明", "originals": 1, "copies": 3},
]
MISSING = [
    {"code": "M02", "name": "经营者身份证明", "reason": "原件需1份，已交0份"},
    {"code": "M04", "name": "经营场所证明", "reason": "未提交"},
    {"code": "M05", "name": "健康证明", "reason": "复印件需2份，已交1份"},
]
# 06:30 UTC is 14:30 in Shanghai; 17:10 UTC is already the next day there.
RECEIVED = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
ACCEPTED = datetime(2026, 11, 25, 6, 41, tzinfo=UTC)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if not self.in_style:
            self.parts.append(data)


def text_of(html: str) -> str:
    """What a reader sees: entities decoded, tags and the stylesheet dropped."""
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def row(outcome: str, **changes: Any) -> dict[str, Any]:
    """A case_record row as acceptance stores it after migration 0005, for one outcome."""
    status = {"corrected": "accepted", "deferred": "accepted"}.get(outcome, outcome)
    accepted = outcome in ("accepted", "corrected", "deferred", "completed")
    prefix = {"accepted": "SL", "corrected": "SL", "deferred": "RQ", "completed": "JB",
              "supplement_requested": "BZ", "rejected": "BY"}[outcome]
    base: dict[str, Any] = {
        "case_no": CASE_NO, "item_code": "ITEM-1", "item_version": 2, "region_code": "320102001000",
        "channel": "window", "status": status, "outcome": outcome, "applicant": PERSON,
        "materials": MATERIALS, "missing": MISSING if outcome == "supplement_requested" else [],
        "received_at": RECEIVED, "accepted_at": ACCEPTED if accepted else None,
        "promised_due_date": "2026-12-02" if accepted else None, "document_no": prefix + CASE_NO,
        "clerk": CLERK, "completed_at": ACCEPTED if outcome == "completed" else None,
        "refusal": None, "corrections": None, "deferred_materials": None, "deferred_due_date": None,
        "agent": None, "acting_for": None, "item_definition": ITEM | {"item_code": "ITEM-1"},
    }
    if outcome == "rejected":
        base["refusal"] = {"reason": "该事项不需要取得行政许可", "legal_basis": "《中华人民共和国行政许可法》第十三条",
                           "competent_agency": "区市场监督管理局"}
    if outcome == "corrected":
        base["corrections"] = [{"field": "经营场所地址", "before": "中山路1号", "after": "中山路11号"}]
    if outcome == "deferred":
        base["deferred_materials"] = [{"code": "M05", "name": "健康证明", "reason": "未提交"}]
        base["deferred_due_date"] = "2026-12-10"
    base["outcome_document"] = {
        "document_no": base["document_no"], "kind": outcome, "issued_at": (ACCEPTED if accepted else RECEIVED)
        .isoformat(), "case_no": CASE_NO, "item": ITEM, "clerk": CLERK, "applicant": PERSON,
        "missing": base["missing"], "refusal": base["refusal"], "corrections": base["corrections"] or [],
        "deferred": None if outcome != "deferred" else {"materials": base["deferred_materials"],
                                                       "due_date": "2026-12-10", "promise_ref": "CN-2026-007"},
        "promised_provisional": False, "texts": {},
    }
    return base | changes


def doc(outcome: str, kind: DocumentKind, **changes: Any) -> tuple[str, str]:
    html = render(case_view(row(outcome, **changes)), kind)
    return html, text_of(html)


def test_dates_are_chinese_and_times_in_shanghai() -> None:
    assert chinese_date(date(2026, 11, 25)) == "2026年11月25日"
    assert chinese_date(date(2027, 1, 5)) == "2027年1月5日"
    assert chinese_time(datetime(2026, 11, 25, 6, 5, tzinfo=UTC)) == "2026年11月25日 14时05分"
    assert chinese_time(datetime(2026, 11, 25, 17, 10, tzinfo=UTC)) == "2026年11月26日 01时10分"
    assert chinese_date(None) == chinese_time(None) == "—"


def test_receipt_shows_every_field() -> None:
    html, text = doc("accepted", DocumentKind.receipt)
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    for shown in ("受理凭证", f"文书编号：SL{CASE_NO}", CASE_NO, "食品经营许可", "ITEM-1", "欧阳小明",
                  "申请书", "经营者身份证明", "2026年12月2日", "/api/v1/applications/progress", "后六位",
                  "窗口甲", "县级政务服务中心综合窗口（区政务服务中心）", "2026年11月25日 14时41分",
                  "2026年11月25日 14时30分", "区行政审批局印章", "第三十二条"):
        assert shown in text, shown
    # Originals and copies per material, in that order.
    assert '<td>经营者身份证明</td><td class="n">1</td><td class="n">3</td>' in html
    assert '<td>申请书</td><td class="n">1</td><td class="n">0</td>' in html


def test_person_id_masked_on_receipts_full_on_refusal_and_promise() -> None:
    _, receipt = doc("accepted", DocumentKind.receipt)
    assert "1101**********002X" in receipt and "11010519491231002X" not in receipt
    assert "13812345678" not in receipt  # the phone is on no document
    _, refusal = doc("rejected", DocumentKind.refusal)
    assert "11010519491231002X" in refusal
    _, promise = doc("deferred", DocumentKind.deferral_promise)
    assert "11010519491231002X" in promise
    # A credit code is public: never masked.
    _, company = doc("accepted", DocumentKind.receipt, applicant=COMPANY)
    assert "统一社会信用代码" in company and "91110000600037341L" in company


def test_supplement_notice_lists_every_missing_material_with_its_reason() -> None:
    _, text = doc("supplement_requested", DocumentKind.supplement_notice)
    for material in MISSING:
        assert material["name"] in text and material["reason"] in text, material
    assert "共 3 项" in text
    assert "第三十二条第一款第（四）项" in text
    assert "县级政务服务中心综合窗口" in text and "补正" in text  # where and how
    assert f"BZ{CASE_NO}" in text and "2026年11月25日 14时30分" in text


def test_notice_shows_the_list_as_issued_not_what_is_still_missing() -> None:
    # After a partial supplement the column holds only the rest; the notice printed again lists all.
    _, text = doc("supplement_requested", DocumentKind.supplement_notice, missing=MISSING[2:])
    assert all(m["name"] in text for m in MISSING)


def test_refusal_has_reason_basis_agency_and_remedies() -> None:
    _, text = doc("rejected", DocumentKind.refusal)
    for shown in ("不予受理决定书", f"BY{CASE_NO}", "该事项不需要取得行政许可", "《中华人民共和国行政许可法》第十三条",
                  "区市场监督管理局", "六十日内", "行政复议", "六个月内", "行政诉讼"):
        assert shown in text, shown


def test_refusal_without_agency_or_basis_cites_art_32() -> None:
    _, text = doc("rejected", DocumentKind.refusal, refusal={"reason": "不属于本机关职权"},
                  outcome_document=None)
    assert "不属于本机关职权" in text and "第三十二条第一款" in text and "请向" not in text
    assert "六十日内" in text and "六个月内" in text


def test_correction_record_before_and_after() -> None:
    _, text = doc("corrected", DocumentKind.correction)
    for shown in ("当场更正记录", "经营场所地址", "中山路1号", "中山路11号", "申请人确认", f"GZ{CASE_NO}"):
        assert shown in text, shown


def test_completion_notice() -> None:
    _, text = doc("completed", DocumentKind.completion)
    for shown in ("即办件办结通知书", f"JB{CASE_NO}", "已当场办结", "第三十四条", "2026年11月25日 14时41分"):
        assert shown in text, shown


def test_deferral_promise_lists_materials_and_the_dated_promise() -> None:
    _, text = doc("deferred", DocumentKind.deferral_promise)
    for shown in ("容缺受理承诺书", "CN-2026-007", "健康证明", "2026年12月10日前", "承诺人"):
        assert shown in text, shown
    _, receipt = doc("deferred", DocumentKind.receipt)
    assert f"RQ{CASE_NO}" in receipt and "健康证明" in receipt and "2026年12月10日" in receipt


EVIL = '<script>alert("x")</script>'


def _evil_row(outcome: str) -> dict[str, Any]:
    person = PERSON | {"name": EVIL}
    evil_clerk = CLERK | {"name": EVIL, "department": EVIL}
    changes: dict[str, Any] = {
        "applicant": person, "clerk": evil_clerk, "agent": person, "acting_for": {"user_id": "u2", "name": EVIL},
        "materials": [{"code": "M01", "name": EVIL, "originals": 1, "copies": 0}],
        "item_definition": {"name": EVIL, "department": EVIL}, "item_code": EVIL, "case_no": EVIL,
        "document_no": EVIL, "missing": [{"code": "M", "name": EVIL, "reason": EVIL}],
        "refusal": {"reason": EVIL, "legal_basis": EVIL, "competent_agency": EVIL},
        "corrections": [{"field": EVIL, "before": EVIL, "after": EVIL}],
        "deferred_materials": [{"code": "M", "name": EVIL, "reason": EVIL}], "deferred_due_date": "2026-12-10",
        "status": "completed", "completed_at": ACCEPTED, "accepted_at": ACCEPTED,
        # The issued document's own texts too: the item as pinned and the promise's number.
        "outcome_document": {"kind": outcome, "item": {"code": EVIL, "name": EVIL, "department": EVIL},
                             "deferred": {"materials": [{"code": "M", "name": EVIL, "reason": EVIL}],
                                          "due_date": "2026-12-10", "promise_ref": EVIL}},
    }
    return row(outcome, **changes)


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_every_field_is_escaped(kind: DocumentKind) -> None:
    view = case_view(_evil_row("completed"))
    html = render(view, kind)
    assert "<script" not in html.lower()
    assert '"x"' not in html  # quotes escaped too, so no value can leave an attribute
    assert EVIL in text_of(html)  # printed as text, for the clerk to see


def test_applicable_kinds_follow_the_outcome() -> None:
    def kinds(outcome: str, **changes: Any) -> list[str]:
        return [k.value for k in applicable_kinds(case_view(row(outcome, **changes)))]

    assert kinds("accepted") == ["receipt"]
    assert kinds("supplement_requested") == ["supplement-notice"]
    assert kinds("rejected") == ["refusal"]
    assert kinds("corrected") == ["receipt", "correction"]
    assert kinds("completed") == ["receipt", "completion"]
    assert kinds("deferred") == ["receipt", "deferral-promise"]


def test_a_case_stored_before_migration_0005() -> None:
    """Only the old columns: no outcome, no outcome_document, no item definition (the key is absent)."""
    old = {k: v for k, v in row("accepted").items()
           if k in ("case_no", "item_code", "item_version", "region_code", "channel", "status", "applicant",
                    "materials", "missing", "received_at", "accepted_at", "promised_due_date", "document_no",
                    "clerk")}
    view = case_view(old, {"name": "食品经营许可", "department": "区行政审批局"})
    assert [k.value for k in applicable_kinds(view)] == ["receipt"]
    text = text_of(render(view, DocumentKind.receipt))
    assert f"SL{CASE_NO}" in text and "食品经营许可" in text and "2026年12月2日" in text
    notice = old | {"status": "supplement_requested", "missing": MISSING, "accepted_at": None,
                    "promised_due_date": None, "document_no": f"BZ{CASE_NO}"}
    view = case_view(notice)
    assert [k.value for k in applicable_kinds(view)] == ["supplement-notice"]
    text = text_of(render(view, DocumentKind.supplement_notice))
    assert f"BZ{CASE_NO}" in text and all(m["name"] in text for m in MISSING)
    assert "ITEM-1" in text  # the code stands in for an unknown name


def test_print_stylesheet() -> None:
    html, _ = doc("accepted", DocumentKind.receipt)
    assert "@page { size: A4;" in html
    for font in ("Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "AR PL UMing CN"):
        assert f'"{font}"' in html, font
    assert "serif;" in html


def test_intake_receipt_states_the_day_of_receipt_and_the_decision_due() -> None:
    due = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # 24:00 of Wed 2 Dec, Asia/Shanghai
    received = row("accepted", decision_due_at=due)
    assert DocumentKind.intake_receipt in applicable_kinds(case_view(received))
    assert DocumentKind.intake_receipt not in applicable_kinds(case_view(row("accepted")))
    _, text = doc("accepted", DocumentKind.intake_receipt, decision_due_at=due)
    for shown in ("申请材料收件凭证", f"文书编号：SJ{CASE_NO}", "2026年12月2日前作出是否受理的决定", "即为受理",
                  "收件人", "2026年11月25日 14时30分", "经营者身份证明"):
        assert shown in text, shown
    assert "2026年12月3日" not in text  # the instant is 24:00 of the 2nd, printed as that day


def test_a_deemed_acceptance_receipt_says_the_law_accepted_it() -> None:
    _, text = doc("accepted", DocumentKind.receipt, deemed_accepted=True)
    assert "即为受理" in text and "第三十二条第一款第（四）项" in text and "决定予以受理" not in text
    _, plain = doc("accepted", DocumentKind.receipt)
    assert "决定予以受理" in plain and "即为受理" not in plain
