"""What a printable document (文书) of an acceptance outcome shows, read from the case as acceptance stored it.

No I/O: `case_view` takes the stored row as a mapping. It reads the outcome's own document data
(`outcome_document`, migration 0005) first, because that is the document as it was issued (a notice keeps
the materials it listed even after a partial supplement changed `missing`), and falls back to the older
columns (case_no, item_code, applicant, materials, missing, promised_due_date, document_no, clerk,
received/accepted times) for cases stored before it, or while it is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from services.acceptance.domain.documents import CHANNEL_NAMES, PREFIXES, PRIMARY_KIND, DocumentKind
from services.common.workdays import SHANGHAI

NATURAL_PERSON = "1"  # GB/T 39046 申请人类型 1 自然人
PROGRESS_PATH = "/api/v1/applications/progress"  # 办件进度查询, public (README "Progress query")
LAW = "《中华人民共和国行政许可法》"


ACCEPTED_STATES = frozenset({"accepted", "completed"})


@dataclass(frozen=True)
class Person:
    """申请人 or 代办人 as the documents show them."""

    name: str
    id_type: str
    id_number: str
    applicant_type: str = NATURAL_PERSON

    @property
    def is_natural_person(self) -> bool:
        return self.applicant_type == NATURAL_PERSON

    @property
    def id_label(self) -> str:
        return "统一社会信用代码" if self.id_type == "uscc" else "公民身份号码"

    def shown_id(self, full: bool) -> str:
        """Masking rule of the documents (README "Documents"): a person's id is masked (first 4, last 4,
        as for public results) on papers that pass through many hands, full only on the two documents that
        must identify the party beyond doubt (the refusal decision, the applicant's signed promise). A
        credit code is public by nature and never masked."""
        number = self.id_number.strip().upper()
        if full or not self.is_natural_person:
            return number
        if len(number) <= 8:
            return "*" * len(number)
        return number[:4] + "*" * (len(number) - 8) + number[-4:]


@dataclass(frozen=True)
class MaterialLine:
    """One material received (名称, 原件份数, 复印件份数)."""

    code: str
    name: str
    originals: int
    copies: int


@dataclass(frozen=True)
class Shortfall:
    """One material still to bring, with why (一次性告知 lists every one)."""

    code: str
    name: str
    reason: str


@dataclass(frozen=True)
class CorrectionLine:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class CaseView:
    """Everything the six documents may show; a template uses what its kind needs."""

    case_no: str
    status: str
    outcome: str
    stored_document_no: str
    item_code: str
    item_name: str
    department: str  # 实施机关: issues the document and is named on the seal
    region_code: str
    channel: str
    applicant: Person
    clerk_name: str
    clerk_department: str = ""
    acting_for: str = ""  # AB岗: the absent clerk the clerk stood in for
    agent: Person | None = None
    received_at: datetime | None = None
    accepted_at: datetime | None = None
    completed_at: datetime | None = None
    issued_at: datetime | None = None  # when the outcome's document was issued
    promised_due_date: date | None = None
    promised_provisional: bool = False  # the year's official holiday schedule was not yet known
    materials: tuple[MaterialLine, ...] = ()
    missing: tuple[Shortfall, ...] = ()
    refusal_reason: str = ""
    refusal_basis: str = ""
    competent_agency: str = ""
    corrections: tuple[CorrectionLine, ...] = ()
    deferred: tuple[Shortfall, ...] = ()
    deferred_due_date: date | None = None
    promise_ref: str = ""
    decision_due_at: datetime | None = None  # received for a later decision: by when (5 working days)
    deemed: bool = False  # 视为受理: nobody decided within the 5 working days (Art. 32(4))
    extra_texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def window_name(self) -> str:
        place = next((name for channel, name in CHANNEL_NAMES.items() if channel.value == self.channel), self.channel)
        return f"{place}（{self.clerk_department}）" if self.clerk_department else place

    def document_no(self, kind: DocumentKind) -> str:
        if self.stored_document_no and PRIMARY_KIND.get(self.outcome) is kind:
            return self.stored_document_no
        if kind is DocumentKind.deferral_promise and self.promise_ref:
            return self.promise_ref  # the promise's own number, as the applicant signed it
        return PREFIXES[kind] + self.case_no


def applicable_kinds(view: CaseView) -> list[DocumentKind]:
    """The documents this case's outcome gave rise to, in DocumentKind order."""
    kinds: list[DocumentKind] = []
    if view.accepted_at is not None or view.status in ACCEPTED_STATES:
        kinds.append(DocumentKind.receipt)
    # While the notice is the case's current document; once replaced, earlier_views prints it as issued.
    if view.status == "supplement_requested" and view.missing:
        kinds.append(DocumentKind.supplement_notice)
    if view.status == "rejected" or view.refusal_reason:
        kinds.append(DocumentKind.refusal)
    if view.corrections:
        kinds.append(DocumentKind.correction)
    if view.completed_at is not None or view.status == "completed":
        kinds.append(DocumentKind.completion)
    if view.deferred:
        kinds.append(DocumentKind.deferral_promise)
    if view.decision_due_at is not None:  # received for a later decision: its 收件凭证 stays printable
        kinds.append(DocumentKind.intake_receipt)
    return kinds


# ---- reading the stored row ---------------------------------------------------------------------

def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _instant(value: Any) -> datetime | None:
    """A stored instant (aware datetime from the database, ISO text from the JSON); naive means UTC, as
    everything acceptance stores is UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value)[:10])


def _person(value: Any) -> Person:
    data = _dict(value)
    return Person(name=_text(data.get("name")), id_type=_text(data.get("id_type")),
                  id_number=_text(data.get("id_number")),
                  applicant_type=_text(data.get("applicant_type")) or NATURAL_PERSON)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _shortfalls(values: Any) -> tuple[Shortfall, ...]:
    return tuple(Shortfall(_text(m.get("code")), _text(m.get("name")), _text(m.get("reason")))
                 for m in _list(values))


def case_view(row: Mapping[str, Any], catalogue_item: Mapping[str, Any] | None = None) -> CaseView:
    """The case as acceptance stored it (a case_record row's mapping) → what the documents show.

    `catalogue_item` (the replica's definition of the item) names the item only for a case stored before
    the case kept its pinned item: the replica may hold a newer version, but its name beats a bare code."""
    doc = _dict(row.get("outcome_document"))
    item = _dict(doc.get("item")) or _dict(row.get("item_definition")) or _dict(catalogue_item)
    refusal = _dict(doc.get("refusal")) or _dict(row.get("refusal"))
    deferred_doc = _dict(doc.get("deferred"))
    clerk = _dict(doc.get("clerk")) or _dict(row.get("clerk"))
    acting_for = doc.get("acting_for") or row.get("acting_for")
    agent = doc.get("agent") or row.get("agent")
    status = _text(row.get("status"))
    outcome = _text(row.get("outcome")) or _text(doc.get("kind")) or status
    # The notice as issued lists what was missing then; the column shows what is still missing now.
    issued_missing = doc.get("missing") if doc.get("kind") == "supplement_requested" else None
    materials = tuple(MaterialLine(_text(m.get("code")), _text(m.get("name")), _int(m.get("originals")),
                                   _int(m.get("copies"))) for m in _list(row.get("materials")))
    return CaseView(
        case_no=_text(row.get("case_no")),
        status=status,
        outcome=outcome,
        stored_document_no=_text(row.get("document_no")),
        item_code=_text(row.get("item_code")) or _text(item.get("code") or item.get("item_code")),
        item_name=_text(item.get("name")) or _text(row.get("item_code")),
        department=_text(item.get("department")),
        region_code=_text(row.get("region_code")),
        channel=_text(row.get("channel")),
        applicant=_person(row.get("applicant") or doc.get("applicant")),
        clerk_name=_text(clerk.get("name")) or _text(clerk.get("user_id")),
        clerk_department=_text(clerk.get("department")),
        acting_for=_text(_dict(acting_for).get("name") or _dict(acting_for).get("user_id")),
        agent=_person(agent) if isinstance(agent, dict) else None,
        received_at=_instant(row.get("received_at")),
        accepted_at=_instant(row.get("accepted_at")),
        completed_at=_instant(row.get("completed_at")),
        issued_at=_instant(doc.get("issued_at")),
        promised_due_date=_day(row.get("promised_due_date")),
        promised_provisional=bool(doc.get("promised_provisional", False)),
        materials=materials,
        missing=_shortfalls(issued_missing if issued_missing is not None else row.get("missing")),
        refusal_reason=_text(refusal.get("reason")),
        refusal_basis=_text(refusal.get("legal_basis")),
        competent_agency=_text(refusal.get("competent_agency")),
        corrections=tuple(CorrectionLine(_text(c.get("field")), _text(c.get("before")), _text(c.get("after")))
                          for c in _list(doc.get("corrections") or row.get("corrections"))),
        deferred=_shortfalls(deferred_doc.get("materials") or row.get("deferred_materials")),
        deferred_due_date=_day(deferred_doc.get("due_date") or row.get("deferred_due_date")),
        promise_ref=_text(deferred_doc.get("promise_ref")),
        decision_due_at=_instant(row.get("decision_due_at")),
        deemed=bool(row.get("deemed_accepted")),
        extra_texts={k: _text(v) for k, v in _dict(doc.get("texts")).items()},
    )


def earlier_views(row: Mapping[str, Any], catalogue_item: Mapping[str, Any] | None = None
                  ) -> dict[DocumentKind, CaseView]:
    """The documents issued before the case's current one (`issued_documents`, migration 0007), as they were
    issued: the 一次性告知书 stays printable after the supplement that led to the receipt. The 收件凭证 is
    not among them: the row itself keeps what it shows."""
    views: dict[DocumentKind, CaseView] = {}
    for doc in _list(row.get("issued_documents")):
        kind = PRIMARY_KIND.get(_text(doc.get("kind")))
        if kind is None or kind is DocumentKind.intake_receipt:
            continue
        outcome = _text(doc.get("kind"))
        then = dict(row) | {
            "outcome_document": doc, "outcome": outcome, "document_no": _text(doc.get("document_no")),
            "status": "accepted" if outcome in ("corrected", "deferred") else outcome,
            "missing": doc.get("missing") or [], "accepted_at": doc.get("accepted_at"),
            "completed_at": doc.get("completed_at"), "promised_due_date": doc.get("promised_due_date"),
            "deemed_accepted": False,
        }
        views[kind] = case_view(then, catalogue_item)  # a later one of the same kind wins
    return views


# ---- Chinese dates -------------------------------------------------------------------------------

def chinese_date(day: date | None) -> str:
    """2026年11月25日 (a calendar date is already local: promised and promise dates are stored as such)."""
    if day is None:
        return "—"
    return f"{day.year}年{day.month}月{day.day}日"


def chinese_time(moment: datetime | None) -> str:
    """2026年11月25日 14时05分, in Asia/Shanghai whatever zone the instant was stored in."""
    if moment is None:
        return "—"
    local = moment.astimezone(SHANGHAI)
    return f"{chinese_date(local.date())} {local.hour:02d}时{local.minute:02d}分"
