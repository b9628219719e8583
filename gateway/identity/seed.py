"""Demo identities for `make run`, the end-to-end tests and the benches: every role at the demo county, township
and village where the role has work there, and two machine clients. Marked `demo` in the database: production
refuses to start while one is active. Passwords are public (printed at start, listed in README.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from gateway.identity.accounts import add_client, add_staff_account
from gateway.identity.clock import Clock, utc_now
from gateway.identity.passwords import Passwords
from gateway.store.tables import oauth_client, staff_account
from services.common.principal import PrincipalKind, Role

COUNTY = "320102000000"  # 南京市玄武区 (demo county)
TOWNSHIP = "320102001000"  # a 街道 of that county
VILLAGE = "320102001001"  # a 社区 of that township
# The joint-approval (并联审批) departments the approval demo processes ask for opinions.
JOINT_DEPARTMENTS = ("区自然资源和规划分局", "区农业农村局", "区住房和城乡建设局")


@dataclass(frozen=True)
class DemoIdentity:
    username: str  # login name, also the principal's subject; client_id for a machine
    name: str
    role: Role
    department: str
    region_code: str
    kind: PrincipalKind = PrincipalKind.staff

    @property
    def password(self) -> str:
        return f"demo-{self.username}-2026"


DEMO_IDENTITIES: tuple[DemoIdentity, ...] = (
    DemoIdentity("county-clerk", "王晓梅", Role.window_clerk, "区政务服务中心", COUNTY),
    DemoIdentity("township-clerk", "李建国", Role.window_clerk, "街道为民服务中心", TOWNSHIP),
    DemoIdentity("village-agent", "赵红", Role.window_clerk, "社区代办点", VILLAGE),
    DemoIdentity("approver", "陈志强", Role.approver, "区行政审批局", COUNTY),
    DemoIdentity("township-approver", "钱伟", Role.approver, "街道为民服务中心", TOWNSHIP),
    DemoIdentity("department-head", "刘芳", Role.department_head, "区行政审批局", COUNTY),
    DemoIdentity("township-head", "郑华", Role.department_head, "街道为民服务中心", TOWNSHIP),
    DemoIdentity("supervisor", "周明", Role.supervisor, "区电子监察中心", COUNTY),
    DemoIdentity("township-supervisor", "冯军", Role.supervisor, "街道纪工委", TOWNSHIP),
    DemoIdentity("catalogue-admin", "孙丽", Role.catalogue_admin, "区数据局", COUNTY),
    DemoIdentity("disclosure-officer", "吴静", Role.disclosure_officer, "区政府办公室（政务公开办）", COUNTY),
    DemoIdentity("operations", "运维值班", Role.operations, "运维", ""),
    DemoIdentity("planning-approver", "会签人1", Role.approver, JOINT_DEPARTMENTS[0], COUNTY),
    DemoIdentity("agriculture-approver", "会签人2", Role.approver, JOINT_DEPARTMENTS[1], COUNTY),
    DemoIdentity("housing-approver", "会签人3", Role.approver, JOINT_DEPARTMENTS[2], COUNTY),
    DemoIdentity("provincial-platform", "省政务服务平台", Role.platform, "", "", PrincipalKind.machine),
    DemoIdentity("county-system", "玄武区政务服务系统", Role.platform, "", COUNTY, PrincipalKind.machine),
)
DEMO = {d.username: d for d in DEMO_IDENTITIES}


def seed_demo(engine: Engine, passwords: Passwords | None = None, clock: Clock = utc_now) -> list[str]:
    """Adds the demo identities that are missing (an existing one keeps its password and state); returns them."""
    passwords = passwords or Passwords()
    with engine.connect() as conn:
        existing = {*conn.execute(select(staff_account.c.username)).scalars(),
                    *conn.execute(select(oauth_client.c.client_id)).scalars()}
    added = []
    for demo in DEMO_IDENTITIES:
        if demo.username in existing:
            continue
        if demo.kind is PrincipalKind.machine:
            add_client(engine, passwords, client_id=demo.username, secret=demo.password, name=demo.name,
                       role=demo.role, region_code=demo.region_code, now=clock(), demo=True)
        else:
            add_staff_account(engine, passwords, username=demo.username, password=demo.password, name=demo.name,
                              role=demo.role, department=demo.department, region_code=demo.region_code,
                              now=clock(), demo=True)
        added.append(demo.username)
    return added
