"""The proactive disclosure directory (主动公开目录, 政府信息公开条例 Arts. 19–26): categories and documents.

A document is published as revision 1. An amendment (修订) is a new revision carrying its reason; earlier
revisions stay readable, because what the public was shown on a day is itself public record. A withdrawal
(撤回) takes the document off every public list and keeps its reason. Validity (效力: 有效/失效/废止) is
a property of the document's content, separate from whether it is published.
Plain Python: no I/O; times and the calendar are passed in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from services.common.workdays import WorkingDayCalendar

# Art. 26: proactive disclosure within 20 working days of the information being formed or changed.
PUBLICATION_WORKING_DAYS = 20

_CATEGORY_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_\-]{0,31}$")  # used in URLs
_REGION_CODE = re.compile(r"^\d{12}$")


class Validity(StrEnum):
    valid = "valid"  # 有效
    expired = "expired"  # 失效 (its period ended, or it was replaced)
    repealed = "repealed"  # 废止 (expressly repealed)


VALIDITY_LABELS = {Validity.valid: "有效", Validity.expired: "失效", Validity.repealed: "废止"}


class DocumentKind(StrEnum):
    """What the annual report counts separately (national template, table 二)."""

    regulation = "regulation"  # 规章
    normative = "normative"  # 规范性文件
    other = "other"  # 其他政府信息


DOCUMENT_KIND_LABELS = {DocumentKind.regulation: "规章", DocumentKind.normative: "规范性文件",
                        DocumentKind.other: "其他"}


class PublicationStatus(StrEnum):
    published = "published"  # 已公开
    withdrawn = "withdrawn"  # 已撤回 (off every public list)


class DirectoryError(Exception):
    def __init__(self, status: int, slug: str, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.status, self.slug, self.message, self.field = status, slug, message, field_name


# ---- categories ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Category:  # 目录类别
    region_code: str
    code: str
    name: str
    parent_code: str | None = None


def validate_category(category: Category, existing: dict[str, Category]) -> None:
    """`existing`: the region's categories by code. The tree may not loop and a parent must exist."""
    if not _REGION_CODE.match(category.region_code):
        raise DirectoryError(422, "invalid-region", "区划代码须为 12 位数字", "region_code")
    if not _CATEGORY_CODE.match(category.code):
        raise DirectoryError(422, "invalid-category-code", "类别编码只能由字母、数字、-、_ 组成", "code")
    if category.code in existing:
        raise DirectoryError(409, "category-exists", f"类别 {category.code} 已存在", "code")
    if category.parent_code is not None and category.parent_code not in existing:
        raise DirectoryError(422, "parent-not-found", f"上级类别 {category.parent_code} 不存在", "parent_code")


def descendants(categories: dict[str, Category], code: str) -> set[str]:
    """A category and every category under it: searching a category searches its subtree."""
    children: dict[str | None, list[str]] = {}
    for c in categories.values():
        children.setdefault(c.parent_code, []).append(c.code)
    found, stack = set(), [code]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found


def category_path(categories: dict[str, Category], code: str) -> list[Category]:
    """Root first; stops at a loop rather than spinning (validation prevents them, data might not)."""
    path: list[Category] = []
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current in categories and current not in seen:
        seen.add(current)
        path.append(categories[current])
        current = categories[current].parent_code
    return list(reversed(path))


# ---- documents -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    sha256: str  # hex of the bytes, computed here so the public can verify what it downloads
    size: int


def attachment_of(filename: str, media_type: str, content: bytes, claimed_sha256: str | None = None) -> Attachment:
    digest = hashlib.sha256(content).hexdigest()
    if claimed_sha256 is not None and claimed_sha256.lower() != digest:
        raise DirectoryError(422, "attachment-hash-mismatch",
                             f"附件的 SHA-256 与声明不符（实际 {digest}）", "attachment.sha256")
    return Attachment(filename=filename, media_type=media_type, sha256=digest, size=len(content))


@dataclass(frozen=True)
class DocumentContent:
    """What a revision says: everything the officer writes."""

    category_code: str
    title: str
    issuing_body: str  # 发布机构
    document_number: str  # 文号, "" when the information has none
    issue_date: date  # 成文/发布日期
    valid_from: date | None
    valid_to: date | None
    validity: Validity
    kind: DocumentKind = DocumentKind.other
    body_text: str = ""
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Revision:
    revision: int
    content: DocumentContent
    created_at: datetime
    created_by: str
    reason: str  # "" for the first; the amendment's reason (修订理由) after


@dataclass
class Document:
    doc_id: str
    region_code: str
    revisions: list[Revision] = field(default_factory=list)
    status: PublicationStatus = PublicationStatus.published
    published_at: datetime | None = None  # first publication
    withdrawn_at: datetime | None = None
    withdraw_reason: str = ""

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    def revision(self, n: int) -> Revision | None:
        return next((r for r in self.revisions if r.revision == n), None)


def validate_content(content: DocumentContent, categories: dict[str, Category]) -> None:
    if content.category_code not in categories:
        raise DirectoryError(422, "category-not-found", f"类别 {content.category_code} 不存在", "category_code")
    if not content.title.strip():
        raise DirectoryError(422, "title-missing", "须填写标题", "title")
    if not content.issuing_body.strip():
        raise DirectoryError(422, "issuing-body-missing", "须填写发布机构", "issuing_body")
    if not content.body_text.strip() and content.attachment is None:
        raise DirectoryError(422, "content-missing", "须提供正文或附件", "body_text")
    if content.valid_from and content.valid_to and content.valid_to < content.valid_from:
        raise DirectoryError(422, "validity-period-invalid", "失效日期早于生效日期", "valid_to")
    if content.validity is Validity.valid and content.valid_from is None:
        # A valid document without a start would be "in force since forever"; the issue date is the usual one.
        raise DirectoryError(422, "valid-from-missing", "有效文件须填写生效日期", "valid_from")


def publish(doc_id: str, region_code: str, content: DocumentContent, categories: dict[str, Category],
            by: str, at: datetime) -> Document:
    if not _REGION_CODE.match(region_code):
        raise DirectoryError(422, "invalid-region", "区划代码须为 12 位数字", "region_code")
    validate_content(content, categories)
    return Document(doc_id=doc_id, region_code=region_code,
                    revisions=[Revision(1, content, at, by, "")], published_at=at)


def amend(document: Document, content: DocumentContent, reason: str, categories: dict[str, Category],
          by: str, at: datetime) -> Revision:
    """A new revision; the earlier ones are kept unchanged."""
    if document.status is PublicationStatus.withdrawn:
        raise DirectoryError(409, "document-withdrawn", "已撤回的信息不能修订")
    if not reason.strip():
        raise DirectoryError(422, "reason-missing", "修订须说明理由", "reason")
    validate_content(content, categories)
    if content == document.current.content:
        raise DirectoryError(409, "nothing-changed", "修订内容与当前版本相同")
    revision = Revision(document.current.revision + 1, content, at, by, reason)
    document.revisions.append(revision)
    return revision


def withdraw(document: Document, reason: str, at: datetime) -> None:
    if document.status is PublicationStatus.withdrawn:
        raise DirectoryError(409, "document-withdrawn", "该信息已撤回")
    if not reason.strip():
        raise DirectoryError(422, "reason-missing", "撤回须说明理由", "reason")
    document.status, document.withdrawn_at, document.withdraw_reason = PublicationStatus.withdrawn, at, reason


def effective_validity(content: DocumentContent, today: date) -> Validity:
    """A document declared valid whose period has ended reads as expired (失效) without an amendment."""
    if content.validity is Validity.valid and content.valid_to is not None and content.valid_to < today:
        return Validity.expired
    return content.validity


def publication_due(issue_date: date, calendar: WorkingDayCalendar) -> date:
    """Art. 26: the last day to publish information formed on `issue_date`."""
    return calendar.add_working_days(issue_date, PUBLICATION_WORKING_DAYS).day


def with_attachment(content: DocumentContent, attachment: Attachment | None) -> DocumentContent:
    return replace(content, attachment=attachment)
