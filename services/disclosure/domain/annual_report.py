"""The annual report on government information disclosure (政府信息公开工作年度报告, 条例 Arts. 49–50).

Its tables follow the national template (国务院办公厅政府信息与政务公开办公室《中华人民共和国政府信息公开
工作年度报告格式》): 二 proactive disclosure, 三 requests received and handled by outcome, 四 administrative
review and litigation. Every figure is computed from the facts passed in; where the platform holds no
data (review, litigation, administrative fees), the figure is 0 and the report says so — a report must
never look complete where it is not. Plain Python: the facts are gathered by the service layer.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.disclosure.domain.information_directory import DocumentKind
from services.disclosure.domain.information_requests import (
    NOT_PROCESSED_GROUNDS,
    UNABLE_GROUNDS,
    WITHHOLDING_GROUNDS,
    ApplicantKind,
    Ground,
    ReplyType,
    WithdrawalKind,
)

APPLICANT_COLUMNS: tuple[tuple[str, str], ...] = (
    (ApplicantKind.natural_person.value, "自然人"),
    (ApplicantKind.commercial_enterprise.value, "商业企业"),
    (ApplicantKind.research_institution.value, "科研机构"),
    (ApplicantKind.public_interest_org.value, "社会公益组织"),
    (ApplicantKind.legal_service_org.value, "法律服务机构"),
    (ApplicantKind.other_org.value, "其他"),
    ("total", "总计"),
)

# Table 三's rows, in the template's order: (key, label, indentation level).
REQUEST_ROWS: tuple[tuple[str, str, int], ...] = (
    ("received", "一、本年新收政府信息公开申请数量", 0),
    ("carried_over", "二、上年结转政府信息公开申请数量", 0),
    ("outcomes", "三、本年度办理结果", 0),
    ("disclosed", "（一）予以公开", 1),
    ("partially_disclosed", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", 1),
    ("not_disclosed", "（三）不予公开", 1),
    ("not_disclosed.state_secret", "1.属于国家秘密", 2),
    ("not_disclosed.prohibited_by_law", "2.其他法律行政法规禁止公开", 2),
    ("not_disclosed.three_securities", "3.危及“三安全一稳定”", 2),
    ("not_disclosed.third_party_rights", "4.保护第三方合法权益", 2),
    ("not_disclosed.internal_affairs", "5.属于三类内部事务信息", 2),
    ("not_disclosed.process_information", "6.属于四类过程性信息", 2),
    ("not_disclosed.enforcement_file", "7.属于行政执法案卷", 2),
    ("not_disclosed.administrative_inquiry", "8.属于行政查询事项", 2),
    ("unable", "（四）无法提供", 1),
    ("unable.not_held", "1.本机关不掌握相关政府信息", 2),
    ("unable.needs_creation", "2.没有现成信息需要另行制作", 2),
    ("unable.still_unclear", "3.补正后申请内容仍不明确", 2),
    ("not_processed", "（五）不予处理", 1),
    ("not_processed.petition", "1.信访举报投诉类申请", 2),
    ("not_processed.repeated", "2.重复申请", 2),
    ("not_processed.publication", "3.要求提供公开出版物", 2),
    ("not_processed.excessive", "4.无正当理由大量反复申请", 2),
    ("not_processed.confirmation", "5.要求行政机关确认或重新出具已获取信息", 2),
    ("other", "（六）其他处理", 1),
    ("other.unsupplemented", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", 2),
    ("other.fee_unpaid", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", 2),
    ("other.other", "3.其他", 2),
    ("concluded", "（七）总计", 1),
    ("carried_forward", "四、结转下年度继续办理", 0),
)

REVIEW_COLUMNS = ("维持", "纠正", "其他结果", "尚未审结", "总计")


@dataclass(frozen=True)
class RequestFacts:
    applicant_kind: str
    received_on: date  # local date of receipt (Art. 31)
    concluded_on: date | None  # answered or withdrawn
    reply_type: str | None  # ReplyType value when answered
    grounds: tuple[str, ...] = ()
    withdrawal_kind: str | None = None
    fee_yuan: int = 0


@dataclass(frozen=True)
class DocumentFacts:
    kind: str
    issue_date: date
    published_on: date
    validity_at_year_end: str  # the effective validity of the revision in force at 31 December
    repealed_on: date | None  # the day a revision first declared it repealed (废止)
    withdrawn: bool


@dataclass(frozen=True)
class CaseFacts:
    item_type: str  # GB/T 39046: 01 许可, 02 处罚, 03 强制
    completed_on: date


def outcome_row(facts: RequestFacts) -> str:
    """The template row a concluded request is counted in (its sub-row when the template has one)."""
    if facts.withdrawal_kind == WithdrawalKind.unsupplemented.value:
        return "other.unsupplemented"
    if facts.withdrawal_kind is not None:
        return "other.other"  # withdrawn by the applicant
    reply = ReplyType(facts.reply_type) if facts.reply_type else None
    ground = Ground(facts.grounds[0]) if facts.grounds else None
    match reply:
        case ReplyType.disclosed | ReplyType.already_public:
            return "disclosed"  # telling where already-public information is counts as disclosure
        case ReplyType.partially_disclosed:
            return "partially_disclosed"
        case ReplyType.not_disclosed:
            return f"not_disclosed.{(ground or Ground.prohibited_by_law).value}"
        case ReplyType.not_exist | ReplyType.not_this_agency:
            return f"unable.{(ground if ground in UNABLE_GROUNDS else Ground.not_held).value}"
        case ReplyType.repeated:
            return "not_processed.repeated"
        case ReplyType.special_regime if ground in NOT_PROCESSED_GROUNDS:
            return f"not_processed.{ground.value}"
        case ReplyType.special_regime if ground in WITHHOLDING_GROUNDS:
            return f"not_disclosed.{ground.value}"
    return "other.other"


def _columns(kinds: list[str]) -> dict[str, int]:
    counts = Counter(kinds)
    row = {key: counts.get(key, 0) for key, _ in APPLICANT_COLUMNS if key != "total"}
    row["total"] = sum(row.values())
    return row


def request_table(year: int, requests: list[RequestFacts]) -> list[dict[str, Any]]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    rows: dict[str, list[str]] = {key: [] for key, _, _ in REQUEST_ROWS}
    for r in requests:
        if r.received_on > end:
            continue
        if start <= r.received_on:
            rows["received"].append(r.applicant_kind)
        elif r.concluded_on is None or r.concluded_on >= start:
            rows["carried_over"].append(r.applicant_kind)
        else:
            continue  # concluded before the year: last year's report
        if r.concluded_on is not None and r.concluded_on <= end:
            row = outcome_row(r)
            rows[row].append(r.applicant_kind)
            if "." in row:
                rows[row.split(".")[0]].append(r.applicant_kind)
            rows["concluded"].append(r.applicant_kind)
        else:
            rows["carried_forward"].append(r.applicant_kind)
    table = []
    for key, label, level in REQUEST_ROWS:
        cells = None if key == "outcomes" else _columns(rows[key])
        table.append({"key": key, "label": label, "level": level, "counts": cells})
    return table


def proactive_table(year: int, documents: list[DocumentFacts], cases: list[CaseFacts]) -> dict[str, Any]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    normative: list[dict[str, Any]] = []
    for kind, label in ((DocumentKind.regulation, "规章"), (DocumentKind.normative, "行政规范性文件")):
        mine = [d for d in documents if d.kind == kind.value and not d.withdrawn]
        normative.append({
            "key": kind.value, "label": label,
            "made": sum(1 for d in mine if start <= d.issue_date <= end),  # 本年制发件数
            "repealed": sum(1 for d in mine if d.repealed_on and start <= d.repealed_on <= end),  # 本年废止件数
            "in_force": sum(1 for d in mine if d.issue_date <= end and d.validity_at_year_end == "valid"),
        })
    decided = Counter(c.item_type for c in cases if start <= c.completed_on <= end)
    published = [d for d in documents if start <= d.published_on <= end]
    return {
        "normative_documents": normative,
        "decisions": [
            {"key": "licensing", "label": "行政许可", "decisions": decided.get("01", 0)},
            {"key": "punishment", "label": "行政处罚", "decisions": decided.get("02", 0)},
            {"key": "coercion", "label": "行政强制", "decisions": decided.get("03", 0)},
        ],
        "administrative_fees": {"label": "行政事业性收费", "amount_yuan": 0, "no_data": True},
        "documents_published": len(published),
        "documents_withdrawn_of_published": sum(1 for d in published if d.withdrawn),
    }


NO_DATA_REVIEW = "本平台未记录政府信息公开行政复议、行政诉讼案件，以下数字为 0，不代表实际情况，须由本机关据实填报。"
NO_DATA_FEES = "本平台未记录行政事业性收费金额，该项为 0，须由本机关据实填报。"
NO_DATA_DECISIONS = "行政许可、处罚、强制决定数为经本平台办结的办件数，平台外办理的未计入。"


def build_report(year: int, region_code: str, agency: str, documents: list[DocumentFacts],
                 requests: list[RequestFacts], cases: list[CaseFacts]) -> dict[str, Any]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    charged = [r for r in requests if r.concluded_on and start <= r.concluded_on <= end and r.fee_yuan > 0]
    zero_review = dict.fromkeys(REVIEW_COLUMNS, 0)
    return {
        "year": year,
        "region_code": region_code,
        "agency": agency,
        "title": f"{agency}{year}年政府信息公开工作年度报告",
        "proactive": proactive_table(year, documents, cases),
        "requests": {"columns": [{"key": k, "label": v} for k, v in APPLICANT_COLUMNS],
                     "rows": request_table(year, requests)},
        "fees": {"requests_charged": len(charged), "amount_yuan": sum(r.fee_yuan for r in charged),
                 "basis": "国办函〔2020〕109号《政府信息公开信息处理费管理办法》"},
        "review_and_litigation": {
            "no_data": True,
            "administrative_review": zero_review,
            "litigation_direct": zero_review,
            "litigation_after_review": zero_review,
        },
        "notes": [NO_DATA_REVIEW, NO_DATA_FEES, NO_DATA_DECISIONS],
    }


# ---- printable page (Chinese) ----------------------------------------------------------------------------

_STYLE = """
body { font-family: "SimSun", "Songti SC", serif; margin: 2em auto; max-width: 60em; color: #000; }
h1 { text-align: center; font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #000; padding: .25em .4em; } td.n { text-align: right; }
td.l1 { padding-left: 1.5em; } td.l2 { padding-left: 3em; } p.note { font-size: .85em; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } table { page-break-inside: avoid; } }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained page to print (no scripts, no external resources)."""
    p = report["proactive"]
    parts = [f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(report["title"])}</title>'
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{_e(report['title'])}</h1>",
             "<p>本报告依据《中华人民共和国政府信息公开条例》第四十九条、第五十条编制，表格格式依照全国统一的"
             "政府信息公开工作年度报告格式，数据由政务服务平台按本机关在平台上的记录生成。</p>",
             "<h2>一、总体情况</h2>",
             f"<p>本年度在主动公开目录中公开政府信息 {_e(p['documents_published'])} 条；"
             f"收到政府信息公开申请 {_e(_count(report, 'received'))} 件，办结 {_e(_count(report, 'concluded'))} 件。"
             "</p>",
             "<h2>二、主动公开政府信息情况</h2>",
             "<table><tr><th>信息内容</th><th>本年制发件数</th><th>本年废止件数</th><th>现行有效件数</th></tr>"]
    for row in p["normative_documents"]:
        parts.append(f"<tr><td>{_e(row['label'])}</td><td class=n>{row['made']}</td>"
                     f"<td class=n>{row['repealed']}</td><td class=n>{row['in_force']}</td></tr>")
    parts.append("</table><table><tr><th>信息内容</th><th>本年处理决定数量</th></tr>")
    for row in p["decisions"]:
        parts.append(f"<tr><td>{_e(row['label'])}</td><td class=n>{row['decisions']}</td></tr>")
    parts.append("</table><table><tr><th>信息内容</th><th>本年收费金额（单位：万元）</th></tr>"
                 f"<tr><td>{_e(p['administrative_fees']['label'])}</td><td class=n>0</td></tr></table>")
    parts.append("<h2>三、收到和处理政府信息公开申请情况</h2><table><tr><th rowspan=2>"
                 "本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和</th>"
                 "<th rowspan=2>自然人</th><th colspan=5>法人或其他组织</th>"
                 "<th rowspan=2>总计</th></tr><tr>")
    parts.extend(f"<th>{_e(label)}</th>" for key, label in APPLICANT_COLUMNS[1:-1])
    parts.append("</tr>")
    for row in report["requests"]["rows"]:
        cells = row["counts"]
        numbers = ("".join(f"<td class=n>{cells[k]}</td>" for k, _ in APPLICANT_COLUMNS) if cells
                   else f"<td colspan={len(APPLICANT_COLUMNS)}></td>")
        parts.append(f"<tr><td class=l{row['level']}>{_e(row['label'])}</td>{numbers}</tr>")
    parts.append("</table>")
    fees = report["fees"]
    parts.append(f"<p>本年度对 {fees['requests_charged']} 件申请收取信息处理费，共计 {fees['amount_yuan']} 元"
                 f"（依据{_e(fees['basis'])}）。</p>")
    parts.append("<h2>四、政府信息公开行政复议、行政诉讼情况</h2><table><tr><th colspan=5>行政复议</th>"
                 "<th colspan=5>行政诉讼（未经复议直接起诉）</th><th colspan=5>行政诉讼（复议后起诉）</th></tr><tr>")
    parts.extend(f"<th>{_e(c)}</th>" for c in REVIEW_COLUMNS * 3)
    rl = report["review_and_litigation"]
    parts.append("</tr><tr>")
    for block in ("administrative_review", "litigation_direct", "litigation_after_review"):
        parts.extend(f"<td class=n>{rl[block][c]}</td>" for c in REVIEW_COLUMNS)
    parts.append("</tr></table>")
    parts.append("<h2>五、存在的主要问题及改进情况</h2><p>（由本机关填写。）</p>")
    parts.append("<h2>六、其他需要报告的事项</h2><p>（由本机关填写。）</p><h2>说明</h2>")
    parts.extend(f"<p class=note>{_e(note)}</p>" for note in report["notes"])
    parts.append("</body></html>")
    return "".join(parts)


def _count(report: dict[str, Any], key: str) -> int:
    row = next(r for r in report["requests"]["rows"] if r["key"] == key)
    return int(row["counts"]["total"])
