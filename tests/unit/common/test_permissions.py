"""The role × action matrix: complete, never granting the public, and rendered into docs/security.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.contracts.permissions import PERMISSIONS, Action, action_of, allows, authorize, requires
from services.common.principal import Principal, PrincipalKind, Role
from services.common.problems import Problem
from tools.security_matrix import embedded, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"
COUNTY = "320102000000"


def _staff(role: Role) -> Principal:
    return Principal(kind=PrincipalKind.staff, subject="u1", role=role, region_code=COUNTY)


ANONYMOUS = Principal(kind=PrincipalKind.public, subject="anonymous", role=Role.public, region_code="")


def test_every_action_has_roles_and_none_is_public() -> None:
    assert set(PERMISSIONS) == set(Action)
    for action, roles in PERMISSIONS.items():
        assert roles, action
        assert Role.public not in roles, action
        assert action.zh, action


@pytest.mark.parametrize("action, roles", [
    (Action.approval_extend, {Role.department_head}),  # 行政许可法 Art. 42: the head approves the extension
    (Action.audit_read, {Role.operations, Role.supervisor}),
    (Action.audit_verify, {Role.operations, Role.supervisor}),
    (Action.calendar_load, {Role.operations}),
    (Action.application_submit, {Role.window_clerk, Role.platform}),
    (Action.application_read, {Role.window_clerk, Role.approver, Role.department_head, Role.supervisor,
                               Role.platform}),
])
def test_rules_that_carry_a_reason(action: Action, roles: set[Role]) -> None:
    assert PERMISSIONS[action] == roles


@pytest.mark.parametrize("action", list(Action))
def test_authorize_follows_the_matrix_for_every_role(action: Action) -> None:
    for role in Role:
        principal = _staff(role)
        if role in PERMISSIONS[action]:
            authorize(principal, action)
            assert allows(principal, action)
            continue
        with pytest.raises(Problem) as refused:
            authorize(principal, action)
        expected = (401, "unauthenticated") if role is Role.public else (403, "forbidden")
        assert (refused.value.status, refused.value.slug) == expected
        assert not allows(principal, action)


def test_the_403_names_the_callers_role_and_no_other() -> None:
    with pytest.raises(Problem) as refused:
        authorize(_staff(Role.approver), Action.catalogue_publish)
    assert "approver" in refused.value.detail
    assert "catalogue_admin" not in refused.value.detail
    assert not refused.value.extensions


def test_the_anonymous_caller_must_log_in() -> None:
    for action in Action:
        with pytest.raises(Problem) as refused:
            authorize(ANONYMOUS, action)
        assert (refused.value.status, refused.value.slug) == (401, "unauthenticated")
        assert not allows(ANONYMOUS, action)


def test_requires_is_a_dependency_that_names_its_action() -> None:
    dependency = requires(Action.approval_decide)
    assert dependency is requires(Action.approval_decide)  # one per action: FastAPI caches it per request
    assert action_of(dependency.dependency) is Action.approval_decide
    assert dependency.dependency(_staff(Role.approver)) == _staff(Role.approver)
    with pytest.raises(Problem):
        dependency.dependency(_staff(Role.window_clerk))
    assert action_of(lambda: None) is None


def test_docs_security_md_shows_the_matrix_as_generated() -> None:
    table = render()
    assert embedded(DOC.read_text(encoding="utf-8")) == table, "run `python -m tools.security_matrix` and paste it"
    assert table.count("\n") == len(Action) + 2
    for action in Action:
        assert f"| `{action.value}` | {action.zh} |" in table
