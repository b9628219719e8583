"""Requests for government information (依申请公开, 政府信息公开条例 2019, Arts. 27–37): a state machine.

Plain Python: no I/O, the time of each act and the working-day calendar are passed in. The reply clock
here is the same budget-and-ledger model monitoring runs from our events (domain.md §1 "Pauses"):
20 working days (Art. 33) counted from the day after receipt, restarted from the supplement (Art. 30),
with consultation time cut out (Arts. 32, 34) and one extension of at most 20 working days (Art. 33).
We compute it too, because the applicant's receipt must print the reply due date at submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline, end_of_day

REPLY_WORKING_DAYS = 20  # Art. 33 答复期限
EXTENSION_MAX_WORKING_DAYS = 20  # Art. 33 延长答复期限 at most 20 working days, once
SUPPLEMENT_NOTICE_WORKING_DAYS = 7  # Art. 30 补正通知 within 7 working days of receipt
CONSULTATION_WORKING_DAYS = 15  # Arts. 32/34 征求意见 15 working days
SUPPLY_PERIOD_MAX_DAYS = 60  # product rule: a "reasonable period" (合理的补正期限) of at most 60 days

_DAY_SECONDS = 86_400


class Channel(StrEnum):
    """How the request reached the agency; Art. 31 fixes the date of receipt for each."""

    in_person = "in_person"  # 当面提交: the day submitted
    registered_post = "registered_post"  # 挂号信/EMS: the day signed for (签收之日)
    post = "post"  # 平常信函: the day the agency confirms receipt with the applicant (确认之日)
    online = "online"  # 互联网渠道: the day both sides confirm — the system confirms on submission
    fax = "fax"  # 传真: the day both sides confirm
    email = "email"  # 电子邮件 (an Internet channel): the day both sides confirm


CHANNEL_LABELS = {Channel.in_person: "当面提交", Channel.registered_post: "邮政挂号/快递", Channel.post: "平常信函",
                  Channel.online: "网上申请", Channel.fax: "传真", Channel.email: "电子邮件"}


class ApplicantKind(StrEnum):
    """The applicant columns of the national annual-report template (table 三)."""

    natural_person = "natural_person"  # 自然人
    commercial_enterprise = "commercial_enterprise"  # 商业企业
    research_institution = "research_institution"  # 科研机构
    public_interest_org = "public_interest_org"  # 社会公益组织
    legal_service_org = "legal_service_org"  # 法律服务机构
    other_org = "other_org"  # 其他


class RequestState(StrEnum):
    in_progress = "in_progress"  # 办理中 (the reply clock runs)
    awaiting_supplement = "awaiting_supplement"  # 待补正 (clock stopped; restarts on supplement)
    consulting = "consulting"  # 征求意见中 (clock stopped while any consultation is open)
    answered = "answered"  # 已答复
    withdrawn = "withdrawn"  # 已撤回 (by the applicant, or deemed withdrawn: no supplement in time)


STATE_LABELS = {RequestState.in_progress: "办理中", RequestState.awaiting_supplement: "待补正",
                RequestState.consulting: "征求意见中", RequestState.answered: "已答复",
                RequestState.withdrawn: "已撤回"}


class Action(StrEnum):
    request_supplement = "request_supplement"  # 补正通知
    supplement = "supplement"  # 申请人补正
    lapse_supplement = "lapse_supplement"  # 逾期未补正，视为放弃申请
    start_consultation = "start_consultation"  # 征求意见
    end_consultation = "end_consultation"
    extend = "extend"  # 延长答复期限
    answer = "answer"  # 答复
    withdraw = "withdraw"  # 申请人撤回


# The state machine: which acts each state allows. Everything else answers 409 naming the state.
ALLOWED: dict[RequestState, frozenset[Action]] = {
    RequestState.in_progress: frozenset({Action.request_supplement, Action.start_consultation, Action.extend,
                                         Action.answer, Action.withdraw}),
    RequestState.awaiting_supplement: frozenset({Action.supplement, Action.lapse_supplement, Action.withdraw}),
    # A reply waits until every consultation has ended; a further party may be consulted meanwhile.
    RequestState.consulting: frozenset({Action.start_consultation, Action.end_consultation, Action.extend,
                                        Action.withdraw}),
    RequestState.answered: frozenset(),
    RequestState.withdrawn: frozenset(),
}


class ReplyType(StrEnum):
    """Art. 36 答复 types (and Art. 37 partial disclosure)."""

    already_public = "already_public"  # (一) 已经主动公开的，告知获取的方式和途径
    disclosed = "disclosed"  # (二) 予以公开
    partially_disclosed = "partially_disclosed"  # 第三十七条 部分公开（区分处理）
    not_disclosed = "not_disclosed"  # (三) 不予公开，告知理由
    not_exist = "not_exist"  # (四) 经检索没有所申请公开信息，告知该政府信息不存在
    not_this_agency = "not_this_agency"  # (五) 不属于本机关负责公开，能确定的告知负责公开的机关
    repeated = "repeated"  # (六) 重复申请，告知不予重复处理
    special_regime = "special_regime"  # (七) 法律、行政法规另有规定的，告知依照有关规定办理


REPLY_LABELS = {
    ReplyType.already_public: "已主动公开，告知获取方式和途径", ReplyType.disclosed: "予以公开",
    ReplyType.partially_disclosed: "部分公开", ReplyType.not_disclosed: "不予公开",
    ReplyType.not_exist: "政府信息不存在", ReplyType.not_this_agency: "不属于本机关负责公开",
    ReplyType.repeated: "重复申请，不予重复处理", ReplyType.special_regime: "依照有关法律、行政法规的规定办理",
}

# The replies that hand over information: the only ones a processing fee may go with (product rule).
PROVIDES_INFORMATION = frozenset({ReplyType.disclosed, ReplyType.partially_disclosed})


class Ground(StrEnum):
    """The sub-rows of the national annual-report template (table 三, 本年度办理结果) a reply is counted in."""

    # (三) 不予公开 — also the grounds for withholding part of a partial disclosure
    state_secret = "state_secret"  # 1. 属于国家秘密
    prohibited_by_law = "prohibited_by_law"  # 2. 其他法律行政法规禁止公开
    three_securities = "three_securities"  # 3. 危及"三安全一稳定"
    third_party_rights = "third_party_rights"  # 4. 保护第三方合法权益
    internal_affairs = "internal_affairs"  # 5. 属于三类内部事务信息
    process_information = "process_information"  # 6. 属于四类过程性信息
    enforcement_file = "enforcement_file"  # 7. 属于行政执法案卷
    administrative_inquiry = "administrative_inquiry"  # 8. 属于行政查询事项
    # (四) 无法提供
    not_held = "not_held"  # 1. 本机关不掌握相关政府信息
    needs_creation = "needs_creation"  # 2. 没有现成信息需要另行制作
    still_unclear = "still_unclear"  # 3. 补正后申请内容仍不明确
    # (五) 不予处理
    petition = "petition"  # 1. 信访举报投诉类申请
    repeated = "repeated"  # 2. 重复申请
    publication = "publication"  # 3. 要求提供公开出版物
    excessive = "excessive"  # 4. 无正当理由大量反复申请
    confirmation = "confirmation"  # 5. 要求行政机关确认或重新出具已获取信息
    # (六) 其他处理
    other = "other"  # 3. 其他


# In the template's row order.
WITHHOLDING_GROUNDS = (Ground.state_secret, Ground.prohibited_by_law, Ground.three_securities,
                       Ground.third_party_rights, Ground.internal_affairs, Ground.process_information,
                       Ground.enforcement_file, Ground.administrative_inquiry)
UNABLE_GROUNDS = (Ground.not_held, Ground.needs_creation, Ground.still_unclear)
NOT_PROCESSED_GROUNDS = (Ground.petition, Ground.repeated, Ground.publication, Ground.excessive,
                         Ground.confirmation)

# Which grounds fit which reply type; the first is the default when the officer names none.
GROUNDS_FOR: dict[ReplyType, tuple[Ground, ...]] = {
    ReplyType.already_public: (),
    ReplyType.disclosed: (),
    ReplyType.partially_disclosed: WITHHOLDING_GROUNDS,
    ReplyType.not_disclosed: WITHHOLDING_GROUNDS,
    ReplyType.not_exist: UNABLE_GROUNDS,
    ReplyType.not_this_agency: (Ground.not_held,),
    ReplyType.repeated: (Ground.repeated,),
    ReplyType.special_regime: (Ground.administrative_inquiry, Ground.publication, Ground.petition,
                               Ground.confirmation, Ground.excessive, Ground.other),
}
# Reply types whose reasons must be given in writing (Art. 36 (三), Art. 37: 说明理由).
NEEDS_REASONS = frozenset({ReplyType.not_disclosed, ReplyType.partially_disclosed, ReplyType.special_regime})


class PartyKind(StrEnum):
    third_party = "third_party"  # 第三方 (Art. 32): silence leaves the decision to the agency
    agency = "agency"  # 其他机关 (Art. 34): silence counts as consent (逾期未答复的视为同意公开)


class ConsultationOutcome(StrEnum):
    consent = "consent"  # 同意公开
    objection = "objection"  # 不同意公开
    no_answer = "no_answer"  # 逾期未答复 (only once its 15 working days have passed)


class WithdrawalKind(StrEnum):
    applicant = "applicant"  # 申请人撤回
    unsupplemented = "unsupplemented"  # 逾期未补正，视为放弃申请 (Art. 30)


# ---- errors ------------------------------------------------------------------------------------------

class RequestError(Exception):
    """A refused act; `status` 409 for the request's state or history, 422 for the act's own content."""

    def __init__(self, status: int, slug: str, message: str) -> None:
        super().__init__(message)
        self.status, self.slug, self.message = status, slug, message


class WrongState(RequestError):
    def __init__(self, state: RequestState, action: Action) -> None:
        allowed = sorted(a.value for a in ALLOWED[state])
        super().__init__(409, "wrong-state",
                         f"申请当前状态为「{STATE_LABELS[state]}」（{state.value}），不能执行 {action.value}；"
                         f"可执行：{'、'.join(allowed) or '无'}")
        self.state, self.action, self.allowed = state, action, allowed


# ---- receipt (Art. 31) ---------------------------------------------------------------------------------

def receipt_instant(channel: Channel, submitted_at: datetime, signed_for_at: datetime | None = None,
                    confirmed_at: datetime | None = None) -> datetime:
    """The instant the request counts as received (收到申请之日, Art. 31): the clock starts the next day.

    `submitted_at` is when the request was handed in or registered; the evidence each channel needs:
    registered post the signature date, ordinary post / fax / email the confirmation with the applicant.
    Online the system's own confirmation at submission is that of both sides."""
    for name, value in (("submitted_at", submitted_at), ("signed_for_at", signed_for_at),
                        ("confirmed_at", confirmed_at)):
        if value is not None and value.tzinfo is None:
            raise RequestError(422, "naive-time", f"{name} 须带时区")
    match channel:
        case Channel.in_person | Channel.online:
            return submitted_at
        case Channel.registered_post:
            if signed_for_at is None:
                raise RequestError(422, "receipt-evidence-missing", "挂号信件/快递申请须填写签收时间（signed_for_at）")
            return signed_for_at
        case Channel.post | Channel.fax | Channel.email:
            if confirmed_at is None:
                raise RequestError(422, "receipt-evidence-missing",
                                   f"{CHANNEL_LABELS[channel]}申请须填写与申请人确认收到的时间（confirmed_at）")
            return confirmed_at
    raise RequestError(422, "unknown-channel", f"未知的提交渠道 {channel}")  # pragma: no cover - exhaustive


def local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


# ---- the reply clock ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime | None = None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def _working_seconds(calendar: WorkingDayCalendar, start: datetime, end: datetime) -> float:
    """Seconds of [start, end) on the working-day axis: each working day 24 hours, other days none."""
    if end <= start:
        return 0.0
    a, b = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    if a.date() == b.date():
        return (b - a).total_seconds() if calendar.is_workday(a.date()) else 0.0
    total = 0.0
    if calendar.is_workday(a.date()):
        total += (_midnight(a.date() + timedelta(days=1)) - a).total_seconds()
    whole_to = b.date() - timedelta(days=1)
    if whole_to > a.date():
        total += calendar.working_days_between(a.date(), whole_to) * _DAY_SECONDS
    if calendar.is_workday(b.date()):
        total += (b - _midnight(b.date())).total_seconds()
    return total


def _exhaust(calendar: WorkingDayCalendar, start: datetime, remaining: float) -> tuple[datetime, bool]:
    """24:00 of the working day in which `remaining` axis seconds run out, running from `start`."""
    a = start.astimezone(SHANGHAI)
    day = a.date()
    if calendar.is_workday(day):
        available = (_midnight(day + timedelta(days=1)) - a).total_seconds()
        if remaining <= available:
            return end_of_day(day), not calendar.is_covered(day.year)
        remaining -= available
    whole_days = int(-(-remaining // _DAY_SECONDS))
    answer = calendar.add_working_days(day, whole_days)
    return end_of_day(answer.day), answer.provisional


def running_spans(start: datetime, pauses: list[Span], end: datetime | None = None) -> list[Span]:
    """The ledger: running intervals from `start` with the pauses cut out (overlapping pauses merged)."""
    spans: list[Span] = []
    cursor: datetime | None = start
    for pause in sorted(pauses, key=lambda p: p.start):
        if cursor is None:
            break  # an open pause: nothing runs after it
        if pause.end is not None and pause.end <= cursor:
            continue
        if pause.start > cursor:
            spans.append(Span(cursor, pause.start))
        cursor = pause.end
    if cursor is not None:
        spans.append(Span(cursor))
    if end is not None:
        spans = [Span(s.start, end if s.end is None or s.end > end else s.end) for s in spans if s.start < end]
    return [s for s in spans if s.end is None or s.end > s.start]


@dataclass(frozen=True)
class ReplyDue:
    due_at: datetime | None  # None while the clock is stopped with budget left
    provisional: bool  # a day counted lies in a year with no official schedule
    limit_working_days: int  # 20, plus the extension
    used_working_days: float  # of the current budget, at `at`

    @property
    def due_date(self) -> date | None:
        """The last day for the reply as printed on a receipt (the day before the 24:00 instant)."""
        if self.due_at is None:
            return None
        return (self.due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()


def reply_due(start: datetime, pauses: list[Span], limit_days: int, calendar: WorkingDayCalendar,
              at: datetime) -> ReplyDue:
    """When the reply falls due: the budget counts from 00:00 after the start day (民法典 Art. 201)."""
    origin = _midnight(local_day(start) + timedelta(days=1))
    budget = limit_days * _DAY_SECONDS
    spans = running_spans(start, pauses)
    used_at = sum(_working_seconds(calendar, max(s.start, origin), min(s.end or at, at)) for s in spans)
    spent = 0.0
    for span in spans:
        begin = max(span.start, origin)
        if span.end is None:
            due, provisional = _exhaust(calendar, begin, budget - spent)
            return ReplyDue(due, provisional, limit_days, used_at / _DAY_SECONDS)
        piece = _working_seconds(calendar, begin, span.end)
        if spent + piece >= budget:
            due, provisional = _exhaust(calendar, begin, budget - spent)
            return ReplyDue(due, provisional, limit_days, used_at / _DAY_SECONDS)
        spent += piece
    return ReplyDue(None, False, limit_days, used_at / _DAY_SECONDS)


def working_day_deadline(start: datetime, days: int, calendar: WorkingDayCalendar) -> datetime:
    """24:00 of the N-th working day after the start day (domain.md §1)."""
    return deadline(start, TimeLimit(value=days, unit=LimitUnit.working_days), calendar).due_at


# ---- the request -------------------------------------------------------------------------------------

@dataclass
class SupplementNotice:  # 补正通知
    issued_at: datetime
    what: str  # 需要补正的事项
    supply_within: TimeLimit  # 合理的补正期限
    supply_due_at: datetime
    supplemented_at: datetime | None = None
    note: str = ""


@dataclass
class Consultation:  # 征求意见
    consultation_id: str
    party: str
    party_kind: PartyKind
    started_at: datetime
    due_at: datetime  # 15 working days
    ended_at: datetime | None = None
    outcome: ConsultationOutcome | None = None
    answer: str = ""

    @property
    def deemed_consent(self) -> bool:
        """Art. 34: another agency that does not answer in time is taken to consent (视为同意)."""
        return self.party_kind is PartyKind.agency and self.outcome is ConsultationOutcome.no_answer


@dataclass
class Extension:  # 延长答复期限
    working_days: int
    reason: str
    approved_by: str  # the head of the disclosure office (政府信息公开工作机构负责人)
    at: datetime


@dataclass
class Reply:  # 答复
    reply_type: ReplyType
    answered_at: datetime
    reasons: str = ""
    grounds: tuple[Ground, ...] = ()
    where: str = ""  # already public: where to find it (获取方式和途径)
    competent_agency: str = ""  # not this agency's: the one responsible, if known
    fee_mode: str = "none"
    fee_yuan: int = 0
    fee_basis: str = ""
    late: bool = False  # answered after the due instant


@dataclass
class InformationRequest:
    """One request's lawful history; every mutating method checks the state first, then the rule."""

    request_no: str
    region_code: str
    agency: str
    channel: Channel
    received_at: datetime  # Art. 31 date of receipt
    applicant_kind: ApplicantKind = ApplicantKind.natural_person
    state: RequestState = RequestState.in_progress
    supplement: SupplementNotice | None = None
    consultations: list[Consultation] = field(default_factory=list)
    extension: Extension | None = None
    reply: Reply | None = None
    withdrawn_at: datetime | None = None
    withdrawal_kind: WithdrawalKind | None = None
    withdrawal_reason: str = ""

    # ---- clock ----

    @property
    def clock_start(self) -> datetime:
        """Art. 30: after a supplement the reply period runs again from the day it was received."""
        if self.supplement is not None and self.supplement.supplemented_at is not None:
            return self.supplement.supplemented_at
        return self.received_at

    def pauses(self) -> list[Span]:
        spans = [Span(c.started_at, c.ended_at) for c in self.consultations]
        if self.supplement is not None:
            spans.append(Span(self.supplement.issued_at, self.supplement.supplemented_at
                              or self.withdrawn_at))
        return spans

    @property
    def limit_working_days(self) -> int:
        return REPLY_WORKING_DAYS + (self.extension.working_days if self.extension else 0)

    def due(self, calendar: WorkingDayCalendar, at: datetime) -> ReplyDue:
        return reply_due(self.clock_start, self.pauses(), self.limit_working_days, calendar, at)

    def allowed_actions(self) -> list[str]:
        return sorted(a.value for a in ALLOWED[self.state])

    def _check(self, action: Action, at: datetime) -> None:
        if action not in ALLOWED[self.state]:
            raise WrongState(self.state, action)
        if at.tzinfo is None:
            raise RequestError(422, "naive-time", "时间须带时区")
        if at < self.received_at:
            raise RequestError(409, "before-receipt", "办理时间早于收到申请的时间")

    # ---- acts ----

    def request_supplement(self, what: str, supply_within: TimeLimit, at: datetime,
                           calendar: WorkingDayCalendar) -> SupplementNotice:
        """Art. 30: one notice, within 7 working days of receipt, naming what to supplement and a period."""
        self._check(Action.request_supplement, at)
        if self.supplement is not None:
            raise RequestError(409, "supplement-already-requested", "补正通知只能发出一次（条例第三十条：一次性告知）")
        notice_by = working_day_deadline(self.received_at, SUPPLEMENT_NOTICE_WORKING_DAYS, calendar)
        if at >= notice_by:
            last = (notice_by.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
            raise RequestError(409, "supplement-notice-too-late",
                               f"补正通知应在收到申请之日起 7 个工作日内发出（最迟 {last.isoformat()}）")
        if not what.strip():
            raise RequestError(422, "supplement-what-missing", "须写明需要补正的事项")
        if supply_within.unit not in (LimitUnit.working_days, LimitUnit.calendar_days) or not (
                1 <= supply_within.value <= SUPPLY_PERIOD_MAX_DAYS):
            raise RequestError(422, "supply-period-invalid",
                               f"补正期限须为 1–{SUPPLY_PERIOD_MAX_DAYS} 个工作日或自然日")
        supply_due = deadline(at, supply_within, calendar).due_at
        self.supplement = SupplementNotice(issued_at=at, what=what, supply_within=supply_within,
                                           supply_due_at=supply_due)
        self.state = RequestState.awaiting_supplement
        return self.supplement

    def supplemented(self, at: datetime, note: str = "") -> None:
        """The applicant supplied what was asked: the 20 working days run again from this day."""
        self._check(Action.supplement, at)
        assert self.supplement is not None
        if at < self.supplement.issued_at:
            raise RequestError(409, "before-notice", "补正时间早于补正通知")
        self.supplement.supplemented_at = at
        self.supplement.note = note
        self.state = RequestState.in_progress

    def lapse_supplement(self, at: datetime) -> None:
        """Art. 30: no supplement within the period — the request is taken as withdrawn (视为放弃申请)."""
        self._check(Action.lapse_supplement, at)
        assert self.supplement is not None
        if at < self.supplement.supply_due_at:
            last = (self.supplement.supply_due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
            raise RequestError(409, "supply-period-running", f"补正期限尚未届满（至 {last.isoformat()}）")
        self._end_withdrawn(at, WithdrawalKind.unsupplemented,
                            "申请人无正当理由逾期未补正，视为放弃申请（条例第三十条）")

    def start_consultation(self, consultation_id: str, party: str, party_kind: PartyKind, at: datetime,
                           calendar: WorkingDayCalendar) -> Consultation:
        """Arts. 32/34: 15 working days for the party's opinion; the time is not counted in the reply period."""
        self._check(Action.start_consultation, at)
        if any(c.consultation_id == consultation_id for c in self.consultations):
            raise RequestError(409, "consultation-exists", f"征求意见 {consultation_id} 已存在")
        if any(c.ended_at is None and c.party == party for c in self.consultations):
            raise RequestError(409, "consultation-open", f"正在征求「{party}」的意见")
        consultation = Consultation(consultation_id=consultation_id, party=party, party_kind=party_kind,
                                    started_at=at,
                                    due_at=working_day_deadline(at, CONSULTATION_WORKING_DAYS, calendar))
        self.consultations.append(consultation)
        self.state = RequestState.consulting
        return consultation

    def end_consultation(self, consultation_id: str, outcome: ConsultationOutcome, answer: str,
                         at: datetime) -> Consultation:
        self._check(Action.end_consultation, at)
        consultation = next((c for c in self.consultations
                             if c.consultation_id == consultation_id and c.ended_at is None), None)
        if consultation is None:
            raise RequestError(409, "consultation-not-open", f"没有进行中的征求意见 {consultation_id}")
        if outcome is ConsultationOutcome.no_answer and at < consultation.due_at:
            raise RequestError(409, "consultation-period-running",
                               "征求意见期限（15 个工作日）届满前不能按逾期未答复结束")
        consultation.ended_at, consultation.outcome = at, outcome
        consultation.answer = answer or ("逾期未答复，视为同意公开（条例第三十四条）" if consultation.deemed_consent
                                         else "逾期未提出意见，由本机关依照条例规定决定" if
                                         outcome is ConsultationOutcome.no_answer else "")
        if all(c.ended_at is not None for c in self.consultations):
            self.state = RequestState.in_progress
        return consultation

    def extend(self, working_days: int, reason: str, approved_by: str, at: datetime,
               calendar: WorkingDayCalendar) -> Extension:
        """Art. 33: once, at most 20 working days, approved by the office head, before the period ends."""
        self._check(Action.extend, at)
        if self.extension is not None:
            raise RequestError(409, "already-extended", "答复期限只能延长一次（条例第三十三条）")
        if not 1 <= working_days <= EXTENSION_MAX_WORKING_DAYS:
            raise RequestError(422, "extension-too-long",
                               f"延长答复期限最长不得超过 {EXTENSION_MAX_WORKING_DAYS} 个工作日（条例第三十三条）")
        if not reason.strip() or not approved_by.strip():
            raise RequestError(422, "extension-unjustified", "延长须写明理由并经政府信息公开工作机构负责人同意")
        due = self.due(calendar, at).due_at
        if due is not None and at >= due:
            raise RequestError(409, "reply-period-over", "答复期限已届满，不能再延长")
        self.extension = Extension(working_days, reason, approved_by, at)
        return self.extension

    def answer(self, reply: Reply, calendar: WorkingDayCalendar) -> Reply:
        """Art. 36: one of its reply types; refusals and partial disclosures say why (Art. 36 (三), 37)."""
        self._check(Action.answer, reply.answered_at)
        if reply.reply_type in NEEDS_REASONS and not reply.reasons.strip():
            raise RequestError(422, "reasons-missing", f"「{REPLY_LABELS[reply.reply_type]}」须说明理由")
        if reply.reply_type is ReplyType.already_public and not reply.where.strip():
            raise RequestError(422, "where-missing", "已主动公开的，须告知获取该政府信息的方式和途径")
        allowed = GROUNDS_FOR[reply.reply_type]
        if reply.grounds and any(g not in allowed for g in reply.grounds):
            raise RequestError(422, "ground-mismatch",
                               f"「{REPLY_LABELS[reply.reply_type]}」可用的理由分类："
                               f"{'、'.join(g.value for g in allowed) or '无'}")
        if allowed and not reply.grounds:
            if reply.reply_type in (ReplyType.not_disclosed, ReplyType.partially_disclosed):
                raise RequestError(422, "grounds-missing", "不予公开或部分公开须注明依据的理由分类（grounds）")
            reply.grounds = (allowed[0],)
        if reply.fee_yuan and reply.reply_type not in PROVIDES_INFORMATION:
            raise RequestError(422, "fee-without-information", "只有提供政府信息的答复才可能收取信息处理费")
        due = self.due(calendar, reply.answered_at).due_at
        reply.late = due is not None and reply.answered_at >= due
        self.reply = reply
        self.state = RequestState.answered
        return reply

    def withdraw(self, reason: str, at: datetime) -> None:
        self._check(Action.withdraw, at)
        self._end_withdrawn(at, WithdrawalKind.applicant, reason or "申请人撤回申请")

    def _end_withdrawn(self, at: datetime, kind: WithdrawalKind, reason: str) -> None:
        # Open consultations end with the request: nothing is left to wait for.
        for c in self.consultations:
            if c.ended_at is None:
                c.ended_at = at
        self.withdrawn_at, self.withdrawal_kind, self.withdrawal_reason = at, kind, reason
        self.state = RequestState.withdrawn


def new_request(request_no: str, region_code: str, agency: str, channel: Channel, received_at: datetime,
                applicant_kind: ApplicantKind, now: datetime) -> InformationRequest:
    """Registration: the receipt may not lie in the future (a date of receipt is a fact, not a plan)."""
    if received_at.tzinfo is None:
        raise RequestError(422, "naive-time", "收到申请的时间须带时区")
    if received_at > now + timedelta(minutes=5):  # clock skew between the window's PC and the server
        raise RequestError(422, "receipt-in-future", "收到申请的时间不能晚于当前时间")
    return InformationRequest(request_no=request_no, region_code=region_code, agency=agency, channel=channel,
                              received_at=received_at.astimezone(UTC), applicant_kind=applicant_kind)
