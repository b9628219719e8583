"""Who is calling, as the gateway establishes it.

For now staff and machine clients present development tokens (HS256 JWTs printed by `make run`);
the security issue replaces their issuance with logins, client credentials and asymmetric keys.
What leaves the gateway does not change: a `Principal`, signed for the services.
"""

from __future__ import annotations

import time

import jwt

from services.common.principal import Principal, PrincipalKind, Role, sign_principal
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
    return _principal_from_token(_bearer_token(authorization), secret)[0]


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthenticated", "Authorization 头应为 Bearer 令牌")
    return token.strip()


def _principal_from_token(token: str, secret: str) -> tuple[Principal, float | None]:
    try:
        # exp and iat required: PyJWT checks exp only when present, and a token that never expires is a
        # credential that cannot be taken back.
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE,
                            options={"require": ["exp", "iat", "aud"]})
        exp = claims.get("exp")
        return Principal.model_validate(claims), (float(exp) if isinstance(exp, int | float) else None)
    except (jwt.PyJWTError, ValueError) as exc:
        raise Problem(401, "invalid-token", f"令牌无效或已过期：{exc}") from exc


class Authenticator:
    """Bearer token → the principal and its signed `X-Zwfw-Principal`, remembering tokens it has verified.

    A client sends the same token on every request; verifying its HMAC and validating its claims each time was
    a tenth of the gateway's CPU per request, and signing the principal for the services another 7%.
    - A token enters the memory only once PyJWT has accepted it (signature, audience, iat/nbf, exp), and a hit
      checks its `exp` again, as strictly as PyJWT (expired when exp <= now); a token without `exp` (none is
      issued so) is verified every time. Invalid tokens are never remembered, so only a holder of the secret
      can fill the memory; it is bounded and emptied when full. Lookups are by the exact token string.
    - The signed principal is reused for at most `resign_after` seconds of its `ttl` (60 s): a service always
      receives one with at least ttl - resign_after seconds left, as if issued a few seconds earlier.
    """

    def __init__(self, token_secret: str, internal_secret: str, *, max_tokens: int = 4096,
                 principal_ttl: int = 60, resign_after: float = 10.0) -> None:
        self.token_secret = token_secret
        self.internal_secret = internal_secret
        self.max_tokens = max_tokens
        self.principal_ttl = principal_ttl
        self.resign_after = resign_after
        # token → (principal, token exp, signed principal, monotonic time it was signed)
        self._verified: dict[str, tuple[Principal, float, str, float]] = {}
        self._public: tuple[str, float] | None = None

    def authenticate(self, authorization: str | None) -> tuple[Principal, str] | None:
        """As principal_from_authorization, with the principal's `X-Zwfw-Principal` alongside."""
        if not authorization:
            return None
        token = _bearer_token(authorization)
        hit = self._verified.get(token)
        if hit is None or hit[1] <= time.time():
            return self._verify(token)
        now = time.monotonic()
        if now - hit[3] >= self.resign_after:
            hit = (hit[0], hit[1], self._sign(hit[0]), now)
            self._verified[token] = hit
        return hit[0], hit[2]

    def public(self) -> tuple[Principal, str]:
        """The anonymous caller of a public endpoint, signed."""
        now = time.monotonic()
        if self._public is None or now - self._public[1] >= self.resign_after:
            self._public = (self._sign(PUBLIC), now)
        return PUBLIC, self._public[0]

    def _verify(self, token: str) -> tuple[Principal, str]:
        self._verified.pop(token, None)
        principal, exp = _principal_from_token(token, self.token_secret)
        signed = self._sign(principal)
        if exp is not None:
            if len(self._verified) >= self.max_tokens:
                self._verified.clear()
            self._verified[token] = (principal, exp, signed, time.monotonic())
        return principal, signed

    def _sign(self, principal: Principal) -> str:
        return sign_principal(principal, self.internal_secret, ttl_seconds=self.principal_ttl)
