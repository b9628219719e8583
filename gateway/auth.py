"""Who is calling, as the gateway establishes it.

For now staff and machine clients present development tokens (HS256 JWTs printed by `make run`);
the security issue replaces their issuance with logins, client credentials and asymmetric keys.
What leaves the gateway does not change: a `Principal`, signed for the services.
"""

from __future__ import annotations

import time

import jwt

from services.common.principal import Principal, PrincipalKind, Role
from services.common.problems import Problem

_ALGORITHM = "HS256"
_AUDIENCE = "zwfw-gateway"

PUBLIC = Principal(kind=PrincipalKind.public, subject="anonymous", role=Role.public, region_code="")


def issue_dev_token(principal: Principal, secret: str, ttl_seconds: int = 12 * 3600) -> str:
    now = int(time.time())
    claims = principal.model_dump(mode="json") | {"aud": _AUDIENCE, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def principal_from_authorization(authorization: str | None, secret: str) -> Principal | None:
    """None when no credentials were sent; a Problem(401) when they were sent but are not valid."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthenticated", "Authorization 头应为 Bearer 令牌")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=[_ALGORITHM], audience=_AUDIENCE)
        return Principal.model_validate(claims)
    except (jwt.PyJWTError, ValueError) as exc:
        raise Problem(401, "invalid-token", f"令牌无效或已过期：{exc}") from exc
