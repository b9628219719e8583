"""Who may do what: the platform's one role × action matrix (权限矩阵).

Every protected operation of every service names its `Action`; `PERMISSIONS` says which roles may perform it.
The services check it on every call (`requires` as a route dependency, or `authorize` where the check depends
on the request's content), and the gateway checks it again from its table of operations
(gateway/authorization.py) before forwarding. `docs/security.md` renders this module
(`python -m tools.security_matrix`); a test fails when the two differ.

What the matrix does not say, the records do: region scope (a record outside the caller's code prefix answers
404), the step a task belongs to (an approval step names its own role), the department of a joint opinion,
the first clerk of a case (首问负责) and the AB岗 deputies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any

from fastapi import Depends

from services.common.principal import CurrentPrincipal, Principal, PrincipalKind, Role
from services.common.problems import Problem


class Action(StrEnum):
    """`value` is the action's name in the matrix; `zh` says in Chinese what it is (docs/security.md)."""

    zh: str

    def __new__(cls, value: str, zh: str) -> Action:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh
        return member

    # ---- acceptance 受理
    application_submit = "application.submit", "受理：窗口当场受理，或省级平台推送已受理的办件"
    application_receive = "application.receive", "收件：先收材料，五个工作日内决定是否受理"
    application_examine = "application.examine", "审查受理：对已收件的申请作出受理决定"
    application_supplement = "application.supplement", "补正：收取一次性告知所列材料"
    application_withdraw = "application.withdraw", "撤回申请：凭申请人书面撤回申请"
    application_charge_fee = "application.charge_fee", "收费：按公布的收费项目和标准"
    application_print = "application.print", "打印受理文书（受理凭证、一次性告知书等）"
    application_read = "application.read", "查看办件（含申请人信息）"
    material_upload = "material.upload", "上传申请材料"
    material_read = "material.read", "查阅、下载申请材料"
    # ---- approval 审批
    approval_read = "approval.read", "查看待办、已办和审批办件"
    approval_claim = "approval.claim", "签收、退回待办"
    approval_decide = "approval.decide", "办理环节（审查、审核、决定）或出具会签意见；环节另定角色"
    approval_absence = "approval.absence", "登记联办部门缺席（缺席默认）"
    approval_supplement = "approval.supplement", "审查中一次性告知补正、登记补正材料收到"
    approval_suspend = "approval.suspend", "特别程序：暂停计时、恢复计时"
    approval_extend = "approval.extend", "延长审批期限（须本机关负责人批准）"
    approval_certificate = "approval.certificate", "制证"
    approval_deliver = "approval.deliver", "送达"
    approval_complete = "approval.complete", "办结"
    # ---- catalogue 实施清单
    catalogue_draft = "catalogue.draft", "编制事项草稿（含查看草稿）"
    catalogue_import = "catalogue.import", "批量导入事项"
    catalogue_publish = "catalogue.publish", "发布事项"
    catalogue_retire = "catalogue.retire", "废止事项"
    # ---- information disclosure 政务公开
    information_category = "information.category", "维护主动公开目录类别"
    information_publish = "information.publish", "主动公开：发布、修订政府信息"
    information_withdraw = "information.withdraw", "撤回已公开的政府信息"
    information_request_read = "information_request.read", "查看依申请公开的申请"
    information_request_handle = "information_request.handle", "办理依申请公开：补正、征求意见、延期、代为撤回"
    information_request_reply = "information_request.reply", "答复依申请公开"
    # ---- monitoring 电子监察
    monitoring_read = "monitoring.read", "电子监察：办件时限、预警、统计、实时推送"
    calendar_read = "calendar.read", "查看工作日历"
    calendar_load = "calendar.load", "载入年度节假日安排"
    complaint_read = "complaint.read", "查看投诉及其办理时限"
    complaint_handle = "complaint.handle", "办理投诉：转办、答复、不予受理"
    rating_read = "rating.read", "查看差评及其整改时限"
    rating_rectify = "rating.rectify", "登记差评整改情况"
    # ---- the gateway's audit log 审计日志
    audit_read = "audit.read", "查阅审计日志"
    audit_verify = "audit.verify", "校验审计日志哈希链"


_CLERK, _PLATFORM = Role.window_clerk, Role.platform
_APPROVAL_STAFF = frozenset({Role.approver, Role.department_head})
# Those who handle a case after the window: they read the case and the scans it was accepted on.
_CASE_READERS = frozenset({_CLERK, Role.approver, Role.department_head, Role.supervisor, _PLATFORM})

PERMISSIONS: Mapping[Action, frozenset[Role]] = MappingProxyType({
    Action.application_submit: frozenset({_CLERK, _PLATFORM}),
    Action.application_receive: frozenset({_CLERK, _PLATFORM}),
    # The acts below are done at the window, on the applicant's written request or in front of them.
    Action.application_examine: frozenset({_CLERK}),
    Action.application_supplement: frozenset({_CLERK}),
    Action.application_withdraw: frozenset({_CLERK}),
    Action.application_charge_fee: frozenset({_CLERK}),
    Action.application_print: frozenset({_CLERK}),
    Action.application_read: _CASE_READERS,
    Action.material_upload: frozenset({_CLERK, _PLATFORM}),
    Action.material_read: _CASE_READERS,
    Action.approval_read: _APPROVAL_STAFF | {Role.supervisor, Role.operations},
    Action.approval_claim: _APPROVAL_STAFF,
    Action.approval_decide: _APPROVAL_STAFF,
    Action.approval_absence: _APPROVAL_STAFF,
    Action.approval_supplement: _APPROVAL_STAFF,
    Action.approval_suspend: _APPROVAL_STAFF,
    # 行政许可法 Art. 42: the extension is approved by the head of the agency.
    Action.approval_extend: frozenset({Role.department_head}),
    Action.approval_certificate: _APPROVAL_STAFF,
    Action.approval_deliver: _APPROVAL_STAFF,
    Action.approval_complete: _APPROVAL_STAFF,
    Action.catalogue_draft: frozenset({Role.catalogue_admin}),
    Action.catalogue_import: frozenset({Role.catalogue_admin}),
    Action.catalogue_publish: frozenset({Role.catalogue_admin}),
    Action.catalogue_retire: frozenset({Role.catalogue_admin}),
    Action.information_category: frozenset({Role.disclosure_officer}),
    Action.information_publish: frozenset({Role.disclosure_officer}),
    Action.information_withdraw: frozenset({Role.disclosure_officer}),
    Action.information_request_read: frozenset({Role.disclosure_officer}),
    Action.information_request_handle: frozenset({Role.disclosure_officer}),
    Action.information_request_reply: frozenset({Role.disclosure_officer}),
    # Heads of department watch their own department's deadlines.
    Action.monitoring_read: frozenset({Role.supervisor, Role.operations, Role.department_head}),
    Action.calendar_read: frozenset({Role.supervisor, Role.operations}),
    Action.calendar_load: frozenset({Role.operations}),
    # Complaints and bad ratings are the supervisors' to handle (电子监察); heads follow their department's.
    Action.complaint_read: frozenset({Role.supervisor, Role.operations, Role.department_head}),
    Action.complaint_handle: frozenset({Role.supervisor}),
    Action.rating_read: frozenset({Role.supervisor, Role.operations, Role.department_head}),
    Action.rating_rectify: frozenset({Role.supervisor}),
    Action.audit_read: frozenset({Role.operations, Role.supervisor}),
    Action.audit_verify: frozenset({Role.operations, Role.supervisor}),
})


def allows(principal: Principal, action: Action) -> bool:
    """For a check that only shapes the answer (e.g. whether drafts are shown), not one that refuses."""
    return principal.kind is not PrincipalKind.public and principal.role in PERMISSIONS[action]


def authorize(principal: Principal, action: Action) -> None:
    """Raises 401 for the anonymous caller of a public route (it must log in), 403 for a role the matrix
    does not list. The 403 names the caller's role and nothing about the action's other roles."""
    if principal.kind is PrincipalKind.public or principal.role is Role.public:
        raise Problem(401, "unauthenticated", "请先登录后再办理此操作")
    if principal.role not in PERMISSIONS[action]:
        raise Problem(403, "forbidden", f"当前角色（{principal.role.value}）无权执行此操作")


@cache
def requires(action: Action) -> Any:
    """`principal: Annotated[Principal, requires(Action.x)]`: the check runs as a dependency, so a caller who
    may not act is refused before the request's path, query and body are validated (a 422 would tell an
    outsider what the operation expects). The dependency carries its action for the coverage tests."""

    def dependency(principal: CurrentPrincipal) -> Principal:
        authorize(principal, action)
        return principal

    setattr(dependency, "action", action)  # noqa: B010 - read back by tests/contract/test_authorization_coverage.py
    return Depends(dependency)


def action_of(dependency: Callable[..., Any]) -> Action | None:
    """The action a `requires` dependency checks; None for any other dependency."""
    action = getattr(dependency, "action", None)
    return action if isinstance(action, Action) else None
