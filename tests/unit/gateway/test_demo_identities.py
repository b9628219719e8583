"""The demo identities cover every role where it has work, and README.md lists each with its password."""

from __future__ import annotations

from pathlib import Path

from gateway.identity.seed import COUNTY, DEMO_IDENTITIES, TOWNSHIP, VILLAGE
from services.common.principal import PrincipalKind, Role

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_role_has_a_demo_identity_at_the_levels_it_works() -> None:
    at = {(d.role, d.region_code) for d in DEMO_IDENTITIES}
    assert {d.role for d in DEMO_IDENTITIES} == set(Role) - {Role.public}
    assert {(Role.window_clerk, r) for r in (COUNTY, TOWNSHIP, VILLAGE)} <= at
    for role in (Role.approver, Role.department_head, Role.supervisor):
        assert {(role, COUNTY), (role, TOWNSHIP)} <= at, role
    assert (Role.operations, "") in at and (Role.platform, "") in at
    assert all((d.kind is PrincipalKind.machine) == (d.role is Role.platform) for d in DEMO_IDENTITIES)
    assert len({d.username for d in DEMO_IDENTITIES}) == len(DEMO_IDENTITIES)


def test_the_readme_lists_every_demo_identity_with_its_password() -> None:
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for demo in DEMO_IDENTITIES:
        assert any(row.startswith(f"| {demo.username} | `{demo.password}` | {demo.role.value}") for row in rows), demo
