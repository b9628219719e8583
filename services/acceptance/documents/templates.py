"""The six documents as print-ready HTML (A4), one template function per kind. No I/O.

Plain string templates: Jinja2 is not among the locked dependencies, and six fixed layouts do not need
it. Every value from the case goes through `_e` (html.escape, quotes too), so an applicant named
`<script>…` prints as text; only the fixed wording and markup written here are trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from html import escape

from services.acceptance.documents.model import (
    LAW,
    PROGRESS_PATH,
    CaseView,
    Person,
    Shortfall,
    chinese_date,
    chinese_time,
)
from services.acceptance.domain.documents import TITLES, DocumentKind
from services.common.workdays import SHANGHAI

# Fonts of Debian's packages first (fonts-noto-cjk: Noto Serif/Sans CJK SC; fonts-arphic-uming: AR PL UMing;
# fonts-wqy-zenhei / fonts-wqy-microhei: WenQuanYi), then the usual names elsewhere, then generic serif.
STYLE = """
@page { size: A4; margin: 20mm 18mm 18mm 18mm; }
html { font-family: "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN", "SimSun",
  "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", serif; font-size: 12pt; line-height: 1.5;
  color: #000; background: #fff; }
body { margin: 0 auto; max-width: 170mm; }
h1 { font-size: 20pt; text-align: center; letter-spacing: 0.3em; margin: 0 0 3mm; font-weight: bold; }
.docno { text-align: right; text-indent: 0; margin: 0 0 4mm; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0; }
th, td { border: 0.5pt solid #000; padding: 1mm 2mm; text-align: left; vertical-align: top; }
th { font-weight: bold; white-space: nowrap; }
tr { page-break-inside: avoid; }
td.n { text-align: center; }
p { margin: 1.5mm 0; text-indent: 2em; }
/* The seal stays with the signatures and the note: never alone at the top of a page. */
.sign { margin-top: 8mm; display: flex; justify-content: space-between; align-items: flex-end;
  break-inside: avoid; }
.sign p { text-indent: 0; }
.seal { text-align: center; min-width: 60mm; }
.seal .mark { display: inline-block; border: 1pt dashed #888; border-radius: 50%; padding: 6mm 5mm;
  color: #888; margin-bottom: 2mm; }
.note { font-size: 10pt; margin-top: 5mm; border-top: 0.5pt solid #000; padding-top: 2mm; break-inside: avoid;
  break-before: avoid; }
.note p { text-indent: 0; }
@media screen { body { padding: 15mm; box-shadow: 0 0 3mm #ccc; margin: 5mm auto; } }
"""
ART_32_4 = f"{LAW}第三十二条第一款第（四）项"
ART_32 = f"{LAW}第三十二条第一款"
ART_34 = f"{LAW}第三十四条"


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _issued_at(view: CaseView, kind: DocumentKind) -> datetime | None:
    """When the document was issued: the outcome's own time, else the case's time for that kind."""
    if kind is DocumentKind.intake_receipt:
        return view.received_at
    if kind is DocumentKind.receipt:
        return view.accepted_at or view.issued_at
    if kind is DocumentKind.completion:
        return view.completed_at or view.issued_at or view.accepted_at
    return view.issued_at or view.received_at


def _issued_day(view: CaseView, kind: DocumentKind) -> date | None:
    moment = _issued_at(view, kind)
    return None if moment is None else moment.astimezone(SHANGHAI).date()


def _seal(view: CaseView, kind: DocumentKind) -> str:
    """The issuing office, a placeholder where its seal goes (盖章), and the date."""
    office = view.department or "受理机关"
    return (f'<div class="seal"><div class="mark">（{_e(office)}印章）</div>'
            f"<div>{_e(office)}</div><div>{_e(chinese_date(_issued_day(view, kind)))}</div></div>")


def _page(view: CaseView, kind: DocumentKind, body: str, signature: str | None = None) -> str:
    title = TITLES[kind]
    number = view.document_no(kind)
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)} {_e(number)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n"
        f'<p class="docno">文书编号：{_e(number)}</p>\n'
        f"{body}\n"
        f'<div class="sign">{signature if signature is not None else "<div></div>" + _seal(view, kind)}</div>\n'
        '<div class="note"><p>本文书一式两份，一份交申请人，一份存档。</p></div>\n'
        "</body>\n</html>\n"
    )


def _person_rows(label: str, person: Person, full_id: bool) -> str:
    return (f"<tr><th>{_e(label)}</th><td>{_e(person.name)}</td></tr>\n"
            f"<tr><th>{_e(person.id_label)}</th><td>{_e(person.shown_id(full_id))}</td></tr>\n")


def _item_line(view: CaseView) -> str:
    if view.item_name == view.item_code:
        return view.item_code  # name unknown: the code alone, not twice
    return f"{view.item_name}（事项编码 {view.item_code}）"


def _case_table(view: CaseView, full_id: bool = False, received: bool = True) -> str:
    rows = (f"<tr><th>办件编号</th><td>{_e(view.case_no)}</td></tr>\n"
            f"<tr><th>申请事项</th><td>{_e(_item_line(view))}</td></tr>\n"
            + _person_rows("申请人", view.applicant, full_id))
    if view.agent is not None:
        rows += _person_rows("代办人", view.agent, full_id)
    if received:
        rows += f"<tr><th>收件时间</th><td>{_e(chinese_time(view.received_at))}</td></tr>\n"
    return f'<table class="case">\n{rows}</table>'


def _clerk_line(view: CaseView) -> str:
    clerk = view.clerk_name + (f"（代{view.acting_for}办理，AB岗）" if view.acting_for else "")
    return f"<tr><th>受理人</th><td>{_e(clerk)}</td></tr>\n<tr><th>受理窗口</th><td>{_e(view.window_name)}</td></tr>\n"


def _shortfall_table(lines: tuple[Shortfall, ...], reason_label: str) -> str:
    rows = "".join(f'<tr><td class="n">{i}</td><td>{_e(m.name)}</td><td>{_e(m.reason)}</td></tr>\n'
                   for i, m in enumerate(lines, 1))
    return (f'<table class="missing">\n<tr><th>序号</th><th>材料名称</th><th>{_e(reason_label)}</th></tr>\n'
            f"{rows}</table>")


def _progress_line(view: CaseView) -> str:
    return (f"<p>办理进度可凭办件编号 {_e(view.case_no)} 及申请人证件号码后六位，在政务服务网、窗口或通过"
            f"办件进度查询接口（{_e(PROGRESS_PATH)}）查询。</p>")


def _signature_lines(*who: str) -> str:
    return "".join(f"<p>{_e(w)}（签字）：＿＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日</p>" for w in who)


# ---- the templates ---------------------------------------------------------------------------------

def receipt(view: CaseView) -> str:
    """受理凭证 (Art. 32(5)): handed over at acceptance, the applicant's proof of the date and the promise."""
    materials = "".join(
        f'<tr><td class="n">{i}</td><td>{_e(m.name)}</td><td class="n">{m.originals}</td>'
        f'<td class="n">{m.copies}</td></tr>\n' for i, m in enumerate(view.materials, 1))
    provisional = ("（该年度节假日安排尚未公布，按周末推算，公布后以调整后的日期为准）"
                   if view.promised_provisional else "")
    decision = (f"<p>您提交的「{_e(view.item_name)}」申请材料齐全、符合法定形式，根据{_e(ART_32)}第（五）项的规定，"
                "本机关决定予以受理。</p>\n")
    if view.deemed:
        decision = (f"<p>您于{_e(chinese_time(view.received_at))}提交的「{_e(view.item_name)}」申请材料，本机关未在"
                    f"五个工作日内告知需要补正的内容。根据{_e(ART_32_4)}的规定，自收到申请材料之日起即为受理。</p>\n")
    body = (
        f"<p>{_e(view.applicant.name)}：</p>\n"
        + decision
        + _case_table(view)
        + "\n<table>\n"
        f"<tr><th>受理时间</th><td>{_e(chinese_time(view.accepted_at))}</td></tr>\n"
        f"<tr><th>承诺办结日期</th><td>{_e(chinese_date(view.promised_due_date))}{_e(provisional)}"
        "（按法定工作日计算，受理当日不计入）</td></tr>\n"
        + _clerk_line(view)
        + "</table>\n<p>已收取的申请材料：</p>\n"
        '<table class="materials">\n<tr><th>序号</th><th>材料名称</th><th>原件（份）</th><th>复印件（份）</th></tr>\n'
        f"{materials}</table>\n"
        + _progress_line(view)
    )
    if view.deferred:
        body += (f"<p>以下材料实行容缺受理，申请人已书面承诺于{_e(chinese_date(view.deferred_due_date))}前补齐："
                 f"{_e('、'.join(m.name for m in view.deferred))}。</p>")
    return _page(view, DocumentKind.receipt, body)


def supplement_notice(view: CaseView) -> str:
    """一次性告知书 (Art. 32(4)): every missing material at once, with why, where and how to bring it."""
    body = (
        f"<p>{_e(view.applicant.name)}：</p>\n"
        f"<p>您于{_e(chinese_time(view.received_at))}提交的「{_e(view.item_name)}」申请，申请材料不齐全或者不符合"
        f"法定形式。根据{_e(ART_32_4)}的规定，现一次性告知您需要补正的全部内容（共 {len(view.missing)} 项）：</p>\n"
        + _shortfall_table(view.missing, "需补正的原因")
        + "\n<p>请携带上述材料（原件、复印件按所列份数）及本告知书，到"
        f"{_e(view.window_name)}办理补正。补正材料齐全、符合法定形式的，本机关即予受理，受理时间自补正材料"
        "齐全之日起计算；补正期间不会要求您提交本告知书所列以外的材料。</p>\n"
        + _case_table(view)
        + "\n<table>\n" + _clerk_line(view)
        + f"<tr><th>告知时间</th><td>{_e(chinese_time(_issued_at(view, DocumentKind.supplement_notice)))}</td></tr>\n"
        "</table>\n"
        + _progress_line(view)
    )
    return _page(view, DocumentKind.supplement_notice, body)


def refusal(view: CaseView) -> str:
    """不予受理决定书 (Art. 32(1)(2)): reason, basis, the competent agency where known, and the remedies."""
    basis = view.refusal_basis or ART_32
    agency = (f"<p>该申请事项依法不属于本机关职权范围，请向{_e(view.competent_agency)}提出申请。</p>\n"
              if view.competent_agency else "")
    body = (
        f"<p>{_e(view.applicant.name)}：</p>\n"
        f"<p>您于{_e(chinese_time(view.received_at))}提出的「{_e(view.item_name)}」申请，经审查，"
        "本机关决定不予受理。</p>\n"
        + _case_table(view, full_id=True)
        + "\n<table>\n"
        f"<tr><th>不予受理理由</th><td>{_e(view.refusal_reason)}</td></tr>\n"
        f"<tr><th>法律依据</th><td>{_e(basis)}</td></tr>\n"
        + _clerk_line(view)
        + "</table>\n"
        + agency
        + "<p>如不服本决定，可以自收到本决定书之日起六十日内依法申请行政复议，或者自收到本决定书之日起六个月内"
        "依法向人民法院提起行政诉讼。</p>"
    )
    return _page(view, DocumentKind.refusal, body)


def correction(view: CaseView) -> str:
    """当场更正记录 (Art. 32(3)): what was wrong, what the applicant wrote instead, both signing."""
    rows = "".join(f'<tr><td class="n">{i}</td><td>{_e(c.field)}</td><td>{_e(c.before)}</td>'
                   f"<td>{_e(c.after)}</td></tr>\n" for i, c in enumerate(view.corrections, 1))
    body = (
        f"<p>申请人{_e(view.applicant.name)}提交的「{_e(view.item_name)}」申请材料存在可以当场更正的错误，根据"
        f"{_e(ART_32)}第（三）项的规定，经申请人当场更正如下：</p>\n"
        '<table class="corrections">\n<tr><th>序号</th><th>更正项目</th><th>更正前</th><th>更正后</th></tr>\n'
        f"{rows}</table>\n"
        + _case_table(view)
        + "\n<table>\n" + _clerk_line(view)
        + f"<tr><th>更正时间</th><td>{_e(chinese_time(view.issued_at or view.received_at))}</td></tr>\n</table>\n"
        + _signature_lines("申请人确认", "受理人")
    )
    return _page(view, DocumentKind.correction, body)


def completion(view: CaseView) -> str:
    """即办件办结通知书 (Art. 34): accepted and completed at the window."""
    body = (
        f"<p>{_e(view.applicant.name)}：</p>\n"
        f"<p>您申请的「{_e(view.item_name)}」为即办件，申请材料齐全、符合法定形式，根据{_e(ART_34)}的规定，"
        "已当场办结。</p>\n"
        + _case_table(view)
        + "\n<table>\n"
        f"<tr><th>受理时间</th><td>{_e(chinese_time(view.accepted_at))}</td></tr>\n"
        f"<tr><th>办结时间</th><td>{_e(chinese_time(view.completed_at or view.accepted_at))}</td></tr>\n"
        + _clerk_line(view)
        + "</table>\n"
        + _progress_line(view)
    )
    return _page(view, DocumentKind.completion, body)


def deferral_promise(view: CaseView) -> str:
    """容缺受理承诺书: the applicant's signed promise to bring the listed minor materials by a date."""
    body = (
        f"<p>本人（单位）{_e(view.applicant.name)}申请办理「{_e(view.item_name)}」（办件编号 {_e(view.case_no)}），"
        "因以下材料暂缺，申请容缺受理：</p>\n"
        + _shortfall_table(view.deferred, "暂缺情况")
        + f"\n<p>本人（单位）承诺于{_e(chinese_date(view.deferred_due_date))}前向{_e(view.window_name)}补齐上述材料，"
        "并对所提交材料的真实性负责；逾期未补齐的，愿意承担由此产生的相应责任。</p>\n"
        + _case_table(view, full_id=True)
        + "\n<table>\n" + _clerk_line(view)
        + f"<tr><th>承诺时间</th><td>{_e(chinese_time(view.issued_at or view.accepted_at))}</td></tr>\n</table>\n"
    )
    signature = f"<div>{_signature_lines('承诺人', '受理人')}</div>{_seal(view, DocumentKind.deferral_promise)}"
    return _page(view, DocumentKind.deferral_promise, body, signature)


def intake_receipt(view: CaseView) -> str:
    """收件凭证: materials received for a later decision (online, or left at a centre). It states the day of
    receipt, which is the day the case counts as accepted if no notice comes within 5 working days."""
    materials = "".join(
        f'<tr><td class="n">{i}</td><td>{_e(m.name)}</td><td class="n">{m.originals}</td>'
        f'<td class="n">{m.copies}</td></tr>\n' for i, m in enumerate(view.materials, 1))
    due = view.decision_due_at
    due_day = None if due is None else (due.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
    body = (
        f"<p>{_e(view.applicant.name)}：</p>\n"
        f"<p>本机关已收到您提交的「{_e(view.item_name)}」申请材料，将于{_e(chinese_date(due_day))}前作出是否受理的"
        f"决定。申请材料不齐全或者不符合法定形式的，本机关在此之前一次性告知需要补正的全部内容；逾期不告知的，"
        f"根据{_e(ART_32_4)}的规定，自收到申请材料之日起即为受理。</p>\n"
        + _case_table(view)
        + "\n<table>\n" + _clerk_line(view).replace("受理人", "收件人").replace("受理窗口", "收件窗口")
        + "</table>\n<p>已收到的申请材料：</p>\n"
        '<table class="materials">\n<tr><th>序号</th><th>材料名称</th><th>原件（份）</th><th>复印件（份）</th></tr>\n'
        f"{materials}</table>\n"
        + _progress_line(view)
    )
    return _page(view, DocumentKind.intake_receipt, body)


TEMPLATES: dict[DocumentKind, Callable[[CaseView], str]] = {
    DocumentKind.receipt: receipt,
    DocumentKind.supplement_notice: supplement_notice,
    DocumentKind.refusal: refusal,
    DocumentKind.correction: correction,
    DocumentKind.completion: completion,
    DocumentKind.deferral_promise: deferral_promise,
    DocumentKind.intake_receipt: intake_receipt,
}


def render(view: CaseView, kind: DocumentKind) -> str:
    """The document as HTML text (UTF-8 when encoded); the caller checks that the kind applies."""
    return TEMPLATES[kind](view)
