"""Request authorization at the gateway: each operation's action, and the region a request names.

`OPERATIONS` lists every operation the gateway forwards (method and path template, as in the services' OpenAPI
documents) with the `Action` of the role × action matrix it performs, or `PUBLIC`.
tests/contract/test_authorization_coverage.py proves it covers every operation of every service and names the
action each service checks itself. `RequestAuthorizer.check` runs after authentication and after the body is
read, before forwarding:
- an operation missing from the table answers 404, as a path that does not exist (a new service route must be
  added here before the gateway forwards it; dot segments and empty segments never match);
- a public operation passes for anyone (the catalogue, the region tree and the public results are public data
  of every region, so nothing there is region-scoped);
- otherwise the role must be allowed the action (401 for the anonymous caller, 403 otherwise), and a request
  naming a region outside the caller's code prefix answers 404 — a case number in the path, or a
  `region_code` in the query or at the top level of a JSON body — like a record outside the region would.
The services check all of this again for themselves (defence in depth); this check answers before a
service's validation can say anything about an operation the caller may not perform.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

import orjson

from services.common.contracts.permissions import Action, authorize
from services.common.principal import Principal
from services.common.problems import Problem

PUBLIC: Final = "public"
# Any caller with a valid token, whatever the role (logging out).
AUTHENTICATED: Final = "authenticated"

# 办件编号: the case region's significant prefix (county 6, township 9, village 12 digits), the day, a sequence
# (services/acceptance/handlers.py _next_case_no).
CASE_NUMBER = re.compile(r"(\d{6}|\d{9}|\d{12})-\d{8}-\d{5,}")

_A = Action
# (method, path template) → the action, or PUBLIC. Grouped by service, in the order of each service's OpenAPI.
OPERATIONS: Mapping[tuple[str, str], Action | str] = {
    # ---- acceptance 受理
    ("POST", "/api/v1/applications/files"): _A.material_upload,
    ("GET", "/api/v1/applications/files/{sha256}"): _A.material_read,
    ("GET", "/api/v1/applications/files/{sha256}/content"): _A.material_read,
    ("GET", "/api/v1/applications/progress"): PUBLIC,  # 办件进度查询: case number and id suffix, rate-limited
    ("POST", "/api/v1/applications/intake"): _A.application_receive,
    ("POST", "/api/v1/applications/{case_no}/examination"): _A.application_examine,
    ("GET", "/api/v1/applications/{case_no}/documents/{kind}"): _A.application_print,
    ("POST", "/api/v1/applications"): _A.application_submit,
    ("POST", "/api/v1/applications/{case_no}/withdraw"): _A.application_withdraw,
    ("POST", "/api/v1/applications/{case_no}/supplement"): _A.application_supplement,
    ("POST", "/api/v1/applications/{case_no}/fees"): _A.application_charge_fee,
    ("GET", "/api/v1/applications/{case_no}"): _A.application_read,
    # ---- approval 审批
    ("GET", "/api/v1/approval/tasks"): _A.approval_read,
    ("GET", "/api/v1/approval/cases/{case_no}"): _A.approval_read,
    ("POST", "/api/v1/approval/tasks/{task_id}/claim"): _A.approval_claim,
    ("POST", "/api/v1/approval/tasks/{task_id}/release"): _A.approval_claim,
    ("POST", "/api/v1/approval/tasks/{task_id}/complete"): _A.approval_decide,
    ("POST", "/api/v1/approval/tasks/{task_id}/absence"): _A.approval_absence,
    ("POST", "/api/v1/approval/cases/{case_no}/supplement-request"): _A.approval_supplement,
    ("POST", "/api/v1/approval/cases/{case_no}/supplement-received"): _A.approval_supplement,
    ("POST", "/api/v1/approval/cases/{case_no}/suspend"): _A.approval_suspend,
    ("POST", "/api/v1/approval/cases/{case_no}/resume"): _A.approval_suspend,
    ("POST", "/api/v1/approval/cases/{case_no}/extend"): _A.approval_extend,
    ("POST", "/api/v1/approval/cases/{case_no}/certificate"): _A.approval_certificate,
    ("POST", "/api/v1/approval/cases/{case_no}/delivery"): _A.approval_deliver,
    ("POST", "/api/v1/approval/cases/{case_no}/complete"): _A.approval_complete,
    # ---- disclosure 公开: regions and the catalogue (办事指南 is public)
    ("GET", "/api/v1/regions/{code}"): PUBLIC,
    ("GET", "/api/v1/regions/{code}/items"): PUBLIC,
    ("GET", "/api/v1/catalogue/search"): PUBLIC,
    ("GET", "/api/v1/catalogue/items/{item_code}/flowchart.svg"): PUBLIC,
    ("GET", "/api/v1/catalogue/items/{item_code}/process.bpmn"): PUBLIC,
    ("GET", "/api/v1/catalogue/export"): PUBLIC,
    ("POST", "/api/v1/catalogue/import"): _A.catalogue_import,
    ("POST", "/api/v1/catalogue/items"): _A.catalogue_draft,
    ("GET", "/api/v1/catalogue/items"): PUBLIC,
    ("POST", "/api/v1/catalogue/items/{item_code}/publish"): _A.catalogue_publish,
    ("POST", "/api/v1/catalogue/items/{item_code}/retire"): _A.catalogue_retire,
    ("GET", "/api/v1/catalogue/items/{item_code}"): PUBLIC,
    # Drafts are shown to the catalogue administrator of the item's region only (the service decides).
    ("GET", "/api/v1/catalogue/items/{item_code}/versions/{version}"): PUBLIC,
    ("GET", "/api/v1/catalogue/items/{item_code}/versions/{version}/diff"): PUBLIC,
    # ---- disclosure: public case results (办件结果公示), the directory (主动公开目录) and requests (依申请公开)
    ("GET", "/api/v1/results"): PUBLIC,
    ("GET", "/api/v1/results/{case_no}"): PUBLIC,
    ("GET", "/api/v1/information/categories"): PUBLIC,
    ("POST", "/api/v1/information/categories"): _A.information_category,
    ("POST", "/api/v1/information/documents"): _A.information_publish,
    ("GET", "/api/v1/information/documents"): PUBLIC,
    ("POST", "/api/v1/information/documents/{doc_id}/amend"): _A.information_publish,
    ("POST", "/api/v1/information/documents/{doc_id}/withdraw"): _A.information_withdraw,
    ("GET", "/api/v1/information/search"): PUBLIC,
    # A withdrawn document is shown to its region's officers only (the service decides).
    ("GET", "/api/v1/information/documents/{doc_id}"): PUBLIC,
    ("GET", "/api/v1/information/documents/{doc_id}/revisions/{revision}"): PUBLIC,
    ("GET", "/api/v1/information/documents/{doc_id}/revisions/{revision}/attachment"): PUBLIC,
    ("GET", "/api/v1/information/annual-reports/{year}"): PUBLIC,
    ("GET", "/api/v1/information/annual-reports/{year}/html"): PUBLIC,
    # Anyone may ask (Art. 27); other channels than online are registered by an officer (the service decides).
    ("POST", "/api/v1/information-requests"): PUBLIC,
    ("GET", "/api/v1/information-requests"): _A.information_request_read,
    ("GET", "/api/v1/information-requests/{request_no}"): _A.information_request_read,
    ("POST", "/api/v1/information-requests/{request_no}/supplement-notice"): _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/supplement"): _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/supplement-lapsed"): _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/consultations"): _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/consultations/{consultation_id}/end"):
        _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/extension"): _A.information_request_handle,
    ("POST", "/api/v1/information-requests/{request_no}/reply"): _A.information_request_reply,
    # The applicant with the receipt's access code, or an officer recording a written withdrawal (the service
    # checks which).
    ("POST", "/api/v1/information-requests/{request_no}/withdraw"): PUBLIC,
    # ---- monitoring 电子监察
    ("GET", "/api/v1/monitoring/cases/{case_no}"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/cases"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/cases/{case_no}/explain"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/cases/{case_no}/what-if"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/alerts"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/stream"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/stats"): _A.monitoring_read,
    ("GET", "/api/v1/monitoring/calendar"): _A.calendar_read,
    ("GET", "/api/v1/monitoring/calendar/days"): _A.calendar_read,
    ("PUT", "/api/v1/monitoring/calendar/years/{year}"): _A.calendar_load,
    # 投诉 and 好差评 are filed without login; the complainant looks a complaint up with its query code (staff
    # with a login see the whole record: monitoring decides by who is calling).
    ("POST", "/api/v1/monitoring/complaints"): PUBLIC,
    ("GET", "/api/v1/monitoring/complaints/{complaint_no}"): PUBLIC,
    ("GET", "/api/v1/monitoring/complaints"): _A.complaint_read,
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/transfer"): _A.complaint_handle,
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/answer"): _A.complaint_handle,
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/not-accept"): _A.complaint_handle,
    ("POST", "/api/v1/monitoring/ratings"): PUBLIC,
    ("GET", "/api/v1/monitoring/ratings/bad"): _A.rating_read,
    ("GET", "/api/v1/monitoring/ratings/{rating_no}"): _A.rating_read,
    ("POST", "/api/v1/monitoring/ratings/{rating_no}/rectification"): _A.rating_rectify,
}

# What the gateway answers itself rather than forwarding (gateway/identity, gateway/audit): not in OPERATIONS, which
# RequestAuthorizer checks before forwarding; each route checks its caller itself. Listed so the aggregated OpenAPI
# is accounted for operation by operation (tests/e2e/test_authorization_sweep.py).
GATEWAY_OWN: Mapping[tuple[str, str], Action | str] = {
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/oauth/token"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): AUTHENTICATED,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/api/v1/audit/verify"): _A.audit_verify,
    ("GET", "/api/v1/audit/entries"): _A.audit_read,
}


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    action: Action | str

    @property
    def public(self) -> bool:
        return self.action == PUBLIC

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.split("/")[1:])


class OperationTable:
    """Path templates matched segment by segment; where several match, a literal segment beats a parameter
    at the first place they differ (`/applications/intake` before `/applications/{case_no}`), as the services
    order their routes."""

    def __init__(self, operations: Mapping[tuple[str, str], Action | str]) -> None:
        by_shape: dict[tuple[str, int], list[Operation]] = {}
        for (method, template), action in operations.items():
            op = Operation(method, template, action)
            by_shape.setdefault((method, len(op.segments)), []).append(op)
        for candidates in by_shape.values():
            candidates.sort(key=lambda op: tuple(_is_param(s) for s in op.segments))
        self._by_shape = {shape: tuple((op, op.segments) for op in ops) for shape, ops in by_shape.items()}

    def __iter__(self) -> Iterator[Operation]:
        for candidates in self._by_shape.values():
            yield from (op for op, _ in candidates)

    def match(self, method: str, path: str) -> Operation | None:
        segments = path.split("/")[1:]
        if path[:1] != "/" or any(s in ("", ".", "..") for s in segments):
            return None  # an upstream client would resolve dot segments into another operation
        if not path.isprintable():
            return None  # a line feed, tab or other control character (sent escaped) names no resource
        for op, template in self._by_shape.get((method, len(segments)), ()):
            if all(t == s or _is_param(t) for t, s in zip(template, segments, strict=True)):
                return op
        return None


TABLE = OperationTable(OPERATIONS)
_REGION_KEY = "region_code"
_REGION_BYTES = _REGION_KEY.encode()


def _not_found() -> Problem:
    # The same answer as for a record or a path that does not exist: nothing about the region is confirmed.
    return Problem(404, "not-found", "请求的资源不存在")


class RequestAuthorizer:
    """The gateway's check of one request; `check` has the signature the proxy's `authorize` hook takes."""

    def __init__(self, table: OperationTable = TABLE) -> None:
        self.table = table

    def check(self, principal: Principal, method: str, path: str, query: str, body: bytes) -> None:
        op = self.table.match(method, path)
        if op is None:
            raise _not_found()
        if not isinstance(op.action, Action):
            return  # public
        authorize(principal, op.action)
        for region in _named_regions(path, query, body):
            if not principal.can_see_region(region):
                raise _not_found()


def _named_regions(path: str, query: str, body: bytes) -> Iterator[str]:
    for segment in path.split("/"):
        case = CASE_NUMBER.fullmatch(segment)
        if case:
            yield case.group(1).ljust(12, "0")
    # Substring tests first: most requests name no region and are not parsed here; an escaped name is parsed.
    if _REGION_KEY in query or "%" in query:
        yield from (value.strip() for key, value in parse_qsl(query, keep_blank_values=True) if key == _REGION_KEY)
    if body and (_REGION_BYTES in body or b"\\u" in body) and body.lstrip()[:1] == b"{":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return  # not JSON after all: the service answers 422
        if isinstance(document, dict) and _REGION_KEY in document:
            value = document[_REGION_KEY]
            yield value.strip() if isinstance(value, str) else str(value)
