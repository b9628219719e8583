"""The gateway's request authorization: the operation table, the matrix, and the regions a request names."""

from __future__ import annotations

import json

import pytest

from gateway.auth import PUBLIC as ANONYMOUS
from gateway.authorization import OPERATIONS, PUBLIC, TABLE, RequestAuthorizer
from services.common.contracts.permissions import Action
from services.common.principal import Principal, PrincipalKind, Role
from services.common.problems import Problem

COUNTY, TOWNSHIP, OTHER_COUNTY = "320102000000", "320102001000", "320105000000"
authorizer = RequestAuthorizer()


def staff(role: Role, region: str = COUNTY) -> Principal:
    return Principal(kind=PrincipalKind.staff, subject="u1", role=role, department="区行政审批局", region_code=region)


def refused(principal: Principal, method: str, path: str, query: str = "", body: bytes = b"") -> tuple[int, str]:
    with pytest.raises(Problem) as problem:
        authorizer.check(principal, method, path, query, body)
    return problem.value.status, problem.value.slug


def passes(principal: Principal, method: str, path: str, query: str = "", body: bytes = b"") -> None:
    assert authorizer.check(principal, method, path, query, body) is None


# ---- the table ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, action", [
    ("POST", "/api/v1/applications/intake", Action.application_receive),
    ("POST", "/api/v1/applications", Action.application_submit),
    ("GET", "/api/v1/applications/progress", PUBLIC),
    ("GET", "/api/v1/applications/files/" + "a" * 64, Action.material_read),
    ("GET", "/api/v1/applications/320102-20261125-00001", Action.application_read),
    ("GET", "/api/v1/applications/320102-20261125-00001/documents/receipt", Action.application_print),
    ("POST", "/api/v1/approval/tasks/t-1/complete", Action.approval_decide),
    ("POST", "/api/v1/approval/cases/320102-20261125-00001/complete", Action.approval_complete),
    ("GET", "/api/v1/catalogue/search", PUBLIC),
    ("GET", "/api/v1/catalogue/items/ITEM1", PUBLIC),
    ("POST", "/api/v1/catalogue/items/ITEM1/publish", Action.catalogue_publish),
    ("GET", "/api/v1/catalogue/items/ITEM1/flowchart.svg", PUBLIC),
    ("POST", "/api/v1/information-requests", PUBLIC),
    ("POST", "/api/v1/information-requests/R1/reply", Action.information_request_reply),
    ("POST", "/api/v1/information-requests/R1/withdraw", PUBLIC),
    ("PUT", "/api/v1/monitoring/calendar/years/2027", Action.calendar_load),
    ("GET", "/api/v1/monitoring/calendar", Action.calendar_read),
    ("GET", "/api/v1/monitoring/cases", Action.monitoring_read),
])
def test_a_literal_segment_beats_a_parameter(method: str, path: str, action: Action | str) -> None:
    op = TABLE.match(method, path)
    assert op is not None and op.action == action


def test_every_template_is_matched_by_itself() -> None:
    for (method, template), action in OPERATIONS.items():
        op = TABLE.match(method, template)
        assert op is not None and (op.template, op.action) == (template, action)
    assert len(list(TABLE)) == len(OPERATIONS)


@pytest.mark.parametrize("method, path", [
    ("DELETE", "/api/v1/applications/320102-20261125-00001"),  # no such operation
    ("GET", "/api/v1/approval"),
    ("GET", "/api/v1/catalogue/items/"),  # an empty segment
    ("GET", "/api/v1//catalogue/items"),
    # An upstream HTTP client resolves dot segments: this would reach GET /api/v1/applications/{case_no}.
    ("GET", "/api/v1/applications/progress/../320102-20261125-00001"),
    ("GET", "/api/v1/regions/320102000000/./items"),
    ("GET", "api/v1/catalogue/items"),
    # Control characters (sent as %0A, %09 …) in a segment: no case number or code holds one.
    ("GET", "/api/v1/applications/320102-20261125-00001\n"),
    ("GET", "/api/v1/applications/320102-20261125\t-00001"),
    ("POST", "/api/v1/approval/cases/\x00/extend"),
])
def test_an_operation_not_in_the_table_answers_404_even_to_the_province(method: str, path: str) -> None:
    assert refused(staff(Role.operations, ""), method, path) == (404, "not-found")
    assert refused(ANONYMOUS, method, path) == (404, "not-found")


# ---- roles -------------------------------------------------------------------------------------------

def test_public_operations_pass_for_anyone_and_are_not_region_scoped() -> None:
    for principal in (ANONYMOUS, staff(Role.approver), staff(Role.window_clerk, OTHER_COUNTY)):
        passes(principal, "GET", "/api/v1/regions/320102001000/items")
        passes(principal, "GET", "/api/v1/catalogue/items", "region_code=320102000000")
        passes(principal, "GET", "/api/v1/results/320102-20261125-00001")
        passes(principal, "POST", "/api/v1/information-requests", body=json.dumps({"region_code": COUNTY}).encode())


def test_protected_operations_refuse_the_anonymous_caller_with_401() -> None:
    assert refused(ANONYMOUS, "POST", "/api/v1/information-requests/R1/reply") == (401, "unauthenticated")
    assert refused(ANONYMOUS, "GET", "/api/v1/monitoring/stats") == (401, "unauthenticated")


@pytest.mark.parametrize("method, path, allowed, refused_role", [
    ("POST", "/api/v1/applications", Role.platform, Role.approver),
    ("POST", "/api/v1/approval/cases/320102-20261125-00001/extend", Role.department_head, Role.approver),
    ("POST", "/api/v1/catalogue/items", Role.catalogue_admin, Role.window_clerk),
    ("PUT", "/api/v1/monitoring/calendar/years/2027", Role.operations, Role.supervisor),
    ("GET", "/api/v1/monitoring/alerts", Role.department_head, Role.window_clerk),
    ("GET", "/api/v1/information-requests", Role.disclosure_officer, Role.catalogue_admin),
])
def test_roles_follow_the_matrix(method: str, path: str, allowed: Role, refused_role: Role) -> None:
    passes(staff(allowed), method, path)
    assert refused(staff(refused_role), method, path) == (403, "forbidden")


def test_a_role_that_may_not_act_is_refused_before_its_region_is_looked_at() -> None:
    # 403 says only that the role may not act; it confirms nothing about the other county's case.
    path = "/api/v1/applications/320105-20261125-00001/withdraw"
    assert refused(staff(Role.approver), "POST", path) == (403, "forbidden")


# ---- regions -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_no, county, township, other_county", [
    ("320102-20261125-00001", True, False, False),  # a county case: not the township's
    ("320102001-20261125-00001", True, True, False),  # a township case: the county's and the township's
    ("320102001001-20261125-00001", True, True, False),  # a village case of that township
    ("320102002-20261125-00001", True, False, False),  # another township of the county
    ("320105-20261125-00001", False, False, True),
    ("320102-20261125-123456", True, False, False),  # past 99999 cases a day the sequence grows
])
def test_a_case_number_in_the_path_is_scoped_by_its_region(case_no: str, county: bool, township: bool,
                                                             other_county: bool) -> None:
    for principal, sees in ((staff(Role.approver), county), (staff(Role.approver, TOWNSHIP), township),
                            (staff(Role.approver, OTHER_COUNTY), other_county)):
        for path in (f"/api/v1/approval/cases/{case_no}", f"/api/v1/approval/cases/{case_no}/suspend"):
            method = "GET" if path.endswith(case_no) else "POST"
            if sees:
                passes(principal, method, path)
            else:
                assert refused(principal, method, path) == (404, "not-found")
    province = staff(Role.supervisor, "")
    passes(province, "GET", f"/api/v1/monitoring/cases/{case_no}")
    passes(staff(Role.supervisor, "320000000000"), "GET", f"/api/v1/monitoring/cases/{case_no}/explain")


def test_a_segment_that_is_not_a_case_number_is_left_to_the_service() -> None:
    for case_no in ("C-1", "320105-2026112-00001", "32010-20261125-00001", "x320105-20261125-00001"):
        passes(staff(Role.approver), "GET", f"/api/v1/approval/cases/{case_no}")


@pytest.mark.parametrize("query, sees", [
    ("region_code=320102001000", True),
    ("level=breach&region_code=320102", True),
    ("region_code=320105000000", False),
    ("region_code=3201", False),  # wider than the county: not inside its scope
    ("region_code=320102000000&region_code=320105000000", False),
    ("region%5Fcode=320105000000", False),  # the name escaped
    ("region_code=%20320105000000", False),
    ("region_code=", False),
    ("department=320105000000", True),
    ("", True),
])
def test_a_region_code_in_the_query(query: str, sees: bool) -> None:
    principal = staff(Role.supervisor)
    if sees:
        passes(principal, "GET", "/api/v1/monitoring/cases", query)
    else:
        assert refused(principal, "GET", "/api/v1/monitoring/cases", query) == (404, "not-found")


def _application(region: object) -> dict[str, object]:
    return {"item_code": "I1", "region_code": region, "channel": "window", "materials": []}


@pytest.mark.parametrize("body, sees", [
    (json.dumps(_application(COUNTY)).encode(), True),
    (json.dumps(_application("320102001001")).encode(), True),
    (json.dumps(_application(OTHER_COUNTY)).encode(), False),
    (json.dumps(_application(" 320105000000 ")).encode(), False),
    (json.dumps(_application(320105000000)).encode(), False),
    (json.dumps(_application(None)).encode(), False),
    (b'{"item_code": "I1", "\\u0072egion_code": "320105000000"}', False),  # the key escaped
    (b'  {"region_code": "320105000000"}', False),
    # Only the top level names the case's region; a nested code is something else (an applicant's address).
    (json.dumps({"item_code": "I1", "applicant": {"region_code": OTHER_COUNTY}}).encode(), True),
    (b'{"region_code": "320105000000"', True),  # not JSON: the service answers 422
    (b'[{"region_code": "320105000000"}]', True),  # not an object: the service answers 422
    (b"--boundary\r\nContent-Disposition: form-data; name=\"region_code\"\r\n\r\n320105000000", True),
    (b"", True),
])
def test_a_region_code_at_the_top_of_a_json_body(body: bytes, sees: bool) -> None:
    principal = staff(Role.window_clerk)
    if sees:
        passes(principal, "POST", "/api/v1/applications", body=body)
    else:
        assert refused(principal, "POST", "/api/v1/applications", body=body) == (404, "not-found")


def test_the_province_sees_every_region_named() -> None:
    for region in ("", "320000000000"):
        principal = staff(Role.platform, region)
        passes(principal, "POST", "/api/v1/applications", body=json.dumps(_application(OTHER_COUNTY)).encode())
        passes(principal, "GET", "/api/v1/applications/320105001-20261125-00001")
    # ... of its own province only.
    assert refused(staff(Role.platform, "320000000000"), "GET",
                   "/api/v1/applications/330102-20261125-00001") == (404, "not-found")
