"""主动公开目录: the category tree, revisions with reasons, withdrawal, validity and the Art. 26 window."""

from __future__ import annotations

from datetime import UTC, date, datetime
from hashlib import sha256

import pytest

from services.common.workdays import WorkingDayCalendar
from services.disclosure.domain.information_directory import (
    Category,
    DirectoryError,
    DocumentContent,
    PublicationStatus,
    Validity,
    amend,
    attachment_of,
    category_path,
    descendants,
    effective_validity,
    publication_due,
    publish,
    validate_category,
    withdraw,
)

REGION = "320102000000"
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CATS = {c.code: c for c in (Category(REGION, "01", "政策文件"), Category(REGION, "0101", "规范性文件", "01"),
                            Category(REGION, "010101", "区政府文件", "0101"), Category(REGION, "02", "财政信息"))}


def content(**changes: object) -> DocumentContent:
    base = dict(category_code="0101", title="关于印发某办法的通知", issuing_body="玄武区人民政府办公室",
                document_number="玄政办发〔2026〕3号", issue_date=date(2026, 2, 27), valid_from=date(2026, 3, 1),
                valid_to=None, validity=Validity.valid, body_text="第一条")
    return DocumentContent(**(base | changes))  # type: ignore[arg-type]


def test_category_tree() -> None:
    assert descendants(CATS, "01") == {"01", "0101", "010101"}
    assert [c.name for c in category_path(CATS, "010101")] == ["政策文件", "规范性文件", "区政府文件"]
    with pytest.raises(DirectoryError) as missing:
        validate_category(Category(REGION, "03", "x", "99"), CATS)
    assert missing.value.slug == "parent-not-found"
    with pytest.raises(DirectoryError) as taken:
        validate_category(Category(REGION, "01", "x"), CATS)
    assert taken.value.status == 409


def test_amend_keeps_earlier_revisions_and_the_reason() -> None:
    doc = publish("d1", REGION, content(), CATS, "officer", NOW)
    revision = amend(doc, content(title="关于印发某办法（修订）的通知"), "更正标题", CATS, "officer", NOW)
    assert revision.revision == 2 and doc.current.reason == "更正标题"
    assert doc.revision(1) is not None and doc.revision(1).content.title == "关于印发某办法的通知"
    with pytest.raises(DirectoryError) as same:
        amend(doc, content(title="关于印发某办法（修订）的通知"), "再改", CATS, "officer", NOW)
    assert same.value.slug == "nothing-changed"
    with pytest.raises(DirectoryError) as no_reason:
        amend(doc, content(title="另一个"), " ", CATS, "officer", NOW)
    assert no_reason.value.slug == "reason-missing"


def test_withdraw_once_with_reason_and_no_amendment_after() -> None:
    doc = publish("d1", REGION, content(), CATS, "officer", NOW)
    with pytest.raises(DirectoryError):
        withdraw(doc, "", NOW)
    withdraw(doc, "内容有误，重新发布", NOW)
    assert doc.status is PublicationStatus.withdrawn
    with pytest.raises(DirectoryError) as again:
        withdraw(doc, "x", NOW)
    assert again.value.status == 409
    with pytest.raises(DirectoryError):
        amend(doc, content(title="x"), "y", CATS, "officer", NOW)


@pytest.mark.parametrize(("changes", "slug"), [
    ({"category_code": "99"}, "category-not-found"),
    ({"body_text": "", "attachment": None}, "content-missing"),
    ({"valid_to": date(2026, 1, 1)}, "validity-period-invalid"),
    ({"valid_from": None}, "valid-from-missing"),
])
def test_content_rules(changes: dict[str, object], slug: str) -> None:
    with pytest.raises(DirectoryError) as err:
        publish("d1", REGION, content(**changes), CATS, "officer", NOW)
    assert err.value.slug == slug


def test_attachment_hash_is_computed_and_checked() -> None:
    data = b"%PDF-1.4 test"
    att = attachment_of("a.pdf", "application/pdf", data)
    assert att.sha256 == sha256(data).hexdigest() and att.size == len(data)
    with pytest.raises(DirectoryError) as err:
        attachment_of("a.pdf", "application/pdf", data, claimed_sha256="0" * 64)
    assert err.value.slug == "attachment-hash-mismatch"
    doc = publish("d2", REGION, content(body_text="", attachment=att), CATS, "officer", NOW)
    assert doc.current.content.attachment == att


def test_validity() -> None:
    c = content(valid_to=date(2026, 12, 31))
    assert effective_validity(c, date(2026, 12, 31)) is Validity.valid
    assert effective_validity(c, date(2027, 1, 1)) is Validity.expired
    assert effective_validity(content(validity=Validity.repealed), date(2026, 3, 2)) is Validity.repealed


def test_publication_window_across_national_day() -> None:
    # Art. 26: 20 working days from Sep 30 2025 → Nov 4 (Oct 1–8 off, Sat Oct 11 worked).
    assert publication_due(date(2025, 9, 30), WorkingDayCalendar()) == date(2025, 11, 4)
