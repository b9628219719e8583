"""年度报告: requests counted by year (new, carried over, by outcome, carried forward), proactive counts,
fees, the rows without data, and the printable page."""

from __future__ import annotations

from datetime import date

from services.disclosure.domain.annual_report import (
    CaseFacts,
    DocumentFacts,
    RequestFacts,
    build_report,
    outcome_row,
    render_html,
)


def facts(kind: str, received: date, concluded: date | None, reply: str | None = None,
          grounds: tuple[str, ...] = (), withdrawal: str | None = None, fee: int = 0) -> RequestFacts:
    return RequestFacts(kind, received, concluded, reply, grounds, withdrawal, fee)


REQUESTS = [
    facts("natural_person", date(2025, 12, 20), date(2026, 1, 10), "disclosed"),  # carried over, answered
    facts("natural_person", date(2025, 12, 1), date(2025, 12, 15), "disclosed"),  # last year's entirely
    facts("natural_person", date(2026, 3, 1), date(2026, 3, 20), "partially_disclosed", ("third_party_rights",),
          fee=1700),
    facts("commercial_enterprise", date(2026, 4, 1), date(2026, 4, 20), "not_disclosed", ("state_secret",)),
    facts("legal_service_org", date(2026, 5, 1), date(2026, 5, 9), "not_this_agency"),
    facts("natural_person", date(2026, 6, 1), date(2026, 6, 30), None, withdrawal="unsupplemented"),
    facts("natural_person", date(2026, 6, 2), date(2026, 6, 3), None, withdrawal="applicant"),
    facts("research_institution", date(2026, 7, 1), date(2026, 7, 2), "repeated"),
    facts("natural_person", date(2026, 12, 28), None),  # carried forward
    facts("natural_person", date(2026, 12, 30), date(2027, 1, 5), "disclosed"),  # answered next year
    facts("natural_person", date(2027, 1, 2), None),  # next year's
]


def rows(report: dict) -> dict[str, dict[str, int]]:
    return {r["key"]: r["counts"] for r in report["requests"]["rows"] if r["counts"] is not None}


def test_request_table_balances_and_maps_outcomes() -> None:
    report = build_report(2026, "320102000000", "玄武区人民政府办公室", [], REQUESTS, [])
    r = rows(report)
    assert r["received"]["total"] == 8 and r["carried_over"]["total"] == 1
    assert r["disclosed"]["total"] == 1 and r["partially_disclosed"]["natural_person"] == 1
    assert r["not_disclosed"]["commercial_enterprise"] == 1 and r["not_disclosed.state_secret"]["total"] == 1
    assert r["unable.not_held"]["legal_service_org"] == 1 and r["unable"]["total"] == 1
    assert r["not_processed.repeated"]["research_institution"] == 1
    assert r["other.unsupplemented"]["total"] == 1 and r["other.other"]["total"] == 1 and r["other"]["total"] == 2
    assert r["other.fee_unpaid"]["total"] == 0
    assert r["concluded"]["total"] == 7 and r["carried_forward"]["total"] == 2
    # The template's own check: 一 + 二 = 三（七） + 四.
    total = {key: counts["total"] for key, counts in r.items()}
    assert total["received"] + total["carried_over"] == total["concluded"] + total["carried_forward"]
    assert report["fees"] == {"requests_charged": 1, "amount_yuan": 1700, "basis": report["fees"]["basis"]}


def test_rows_without_platform_data_are_zero_and_say_so() -> None:
    report = build_report(2026, "320102000000", "x", [], [], [])
    review = report["review_and_litigation"]
    assert review["no_data"] and set(review["administrative_review"].values()) == {0}
    assert report["proactive"]["administrative_fees"]["no_data"]
    assert any("行政复议" in note for note in report["notes"])


def test_proactive_counts() -> None:
    docs = [
        DocumentFacts("normative", date(2026, 2, 1), date(2026, 2, 3), "valid", None, False),
        DocumentFacts("normative", date(2020, 5, 1), date(2020, 5, 3), "repealed", date(2026, 8, 1), False),
        DocumentFacts("normative", date(2019, 5, 1), date(2019, 5, 3), "valid", None, False),
        DocumentFacts("regulation", date(2026, 4, 1), date(2026, 4, 2), "valid", None, True),  # withdrawn
        DocumentFacts("other", date(2026, 4, 1), date(2026, 4, 2), "valid", None, False),
    ]
    cases = [CaseFacts("01", date(2026, 3, 1)), CaseFacts("01", date(2025, 3, 1)), CaseFacts("02", date(2026, 1, 1))]
    p = build_report(2026, "320102000000", "x", docs, [], cases)["proactive"]
    normative = next(n for n in p["normative_documents"] if n["key"] == "normative")
    assert (normative["made"], normative["repealed"], normative["in_force"]) == (1, 1, 2)
    regulation = next(n for n in p["normative_documents"] if n["key"] == "regulation")
    assert regulation["made"] == 0
    assert [d["decisions"] for d in p["decisions"]] == [1, 1, 0]
    assert p["documents_published"] == 3


def test_already_public_counts_as_disclosed_and_special_regime_by_ground() -> None:
    assert outcome_row(facts("natural_person", date(2026, 1, 1), date(2026, 1, 2), "already_public")) == "disclosed"
    assert outcome_row(facts("natural_person", date(2026, 1, 1), date(2026, 1, 2), "special_regime",
                             ("petition",))) == "not_processed.petition"
    assert outcome_row(facts("natural_person", date(2026, 1, 1), date(2026, 1, 2), "special_regime",
                             ("administrative_inquiry",))) == "not_disclosed.administrative_inquiry"


def test_html_is_printable_chinese_and_escaped() -> None:
    page = render_html(build_report(2026, "320102000000", "<玄武区>", [], REQUESTS, []))
    assert page.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in page
    assert "&lt;玄武区&gt;2026年政府信息公开工作年度报告" in page and "<玄武区>" not in page
    for heading in ("二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
                    "四、政府信息公开行政复议、行政诉讼情况"):
        assert heading in page
    assert "@media print" in page and "<script" not in page
