"""Who is calling: the principal the gateway proves and every service checks again.

The gateway authenticates the caller, then forwards the principal as a short-lived JWT signed with
the platform's internal secret in `X-Zwfw-Principal`. A service verifies it on every request, so a
call that reaches a service without passing the gateway is refused (401).
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request
from pydantic import BaseModel, Field

from services.common.problems import Problem

PRINCIPAL_HEADER = "X-Zwfw-Principal"
_ALGORITHM = "HS256"
_AUDIENCE = "zwfw-services"
_ISSUER = "zwfw-gateway"


class PrincipalKind(StrEnum):
    staff = "staff"
    machine = "machine"  # OAuth2 client: the provincial platform, a county system
    public = "public"  # anonymous citizen on a public endpoint


class Role(StrEnum):
    window_clerk = "window_clerk"  # 窗口受理人员
    approver = "approver"  # 审批人员
    department_head = "department_head"  # 科室/部门负责人
    supervisor = "supervisor"  # 电子监察人员
    catalogue_admin = "catalogue_admin"  # 事项目录管理员
    disclosure_officer = "disclosure_officer"  # 政府信息公开工作机构人员 (依申请公开, 主动公开目录)
    operations = "operations"  # 运维
    platform = "platform"  # 省级平台等机器客户端
    public = "public"


class Principal(BaseModel):
    kind: PrincipalKind
    subject: str = Field(description="User or client id")
    name: str = ""
    role: Role
    department: str = ""
    # Required, so an identity path that forgets the region cannot fall through to the whole province.
    region_code: str = Field(description="12-digit statistical region code; '' = the whole province")

    def region_scope(self) -> str:
        """The code prefix this principal may see: trailing zero groups of the 12-digit code dropped."""
        return region_prefix(self.region_code)

    def can_see_region(self, region_code: str) -> bool:
        return region_code.startswith(self.region_scope())


def region_prefix(code: str) -> str:
    """Province 2, city 4, county 6, township 9, village 12 digits: 320000000000 → '32'."""
    code = code.strip()
    for length in (2, 4, 6, 9):
        if code[length:].strip("0") == "":
            return code[:length]
    return code


def sign_principal(principal: Principal, secret: str, ttl_seconds: int = 60) -> str:
    now = int(time.time())
    claims = principal.model_dump(mode="json") | {
        "iss": _ISSUER, "aud": _AUDIENCE, "iat": now, "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_principal(token: str, secret: str) -> Principal:
    try:
        # leeway: clock skew between the gateway's host and the service's; exp required, as at the gateway.
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE, issuer=_ISSUER,
                            leeway=5, options={"require": ["exp", "iat", "aud", "iss"]})
    except jwt.PyJWTError as exc:
        raise Problem(401, "invalid-principal", f"调用方身份无效：{exc}") from exc
    return Principal.model_validate(claims)


def current_principal(
    request: Request,
    x_zwfw_principal: Annotated[str | None, Header(alias=PRINCIPAL_HEADER, include_in_schema=False)] = None,
) -> Principal:
    if not x_zwfw_principal:
        raise Problem(401, "unauthenticated", "请通过统一网关访问：缺少调用方身份")
    secret: str = request.app.state.settings.zwfw_internal_secret
    return verify_principal(x_zwfw_principal, secret)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
