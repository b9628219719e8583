"""Who is calling, as the gateway establishes it.

Staff log in and machine clients use OAuth2 client credentials (gateway.identity); both then present an
EdDSA-signed access token. What leaves the gateway does not change: a `Principal`, signed for the services.
"""

from __future__ import annotations

import time

from gateway.identity.keys import KeyRing
from gateway.identity.tokens import InvalidToken, verify_access_token
from services.common.principal import Principal, PrincipalKind, Role, sign_principal
from services.common.problems import Problem

PUBLIC = Principal(kind=PrincipalKind.public, subject="anonymous", role=Role.public, region_code="")


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "Authorization 头应为 Bearer 令牌")
    return token.strip()


def verify_bearer(keys: KeyRing, issuer: str, authorization: str | None) -> tuple[Principal, float, dict[str, object]]:
    """The caller of a gateway endpoint of its own (logout): Problem(401) without a valid bearer token."""
    if not authorization:
        raise Problem(401, "unauthenticated", "需要登录：缺少 Authorization 头")
    try:
        return verify_access_token(keys, bearer_token(authorization), issuer=issuer)
    except InvalidToken as exc:
        raise Problem(401, "invalid-token", f"令牌无效或已过期：{exc}") from exc


class Authenticator:
    """Bearer token → the principal and its signed `X-Zwfw-Principal`, remembering tokens it has verified.

    A client sends the same token on every request; verifying its signature and validating its claims each time
    was a tenth of the gateway's CPU per request, and signing the principal for the services another 7%.
    - A token enters the memory only once it was verified (EdDSA signature by a published key, kid, audience,
      issuer, iat, exp), and a hit checks its `exp` again (expired when exp <= now). Invalid tokens are never
      remembered, so only a holder of a signing key can fill the memory; it is bounded and emptied when full.
      Lookups are by the exact token string.
    - The signed principal is reused for at most `resign_after` seconds of its `ttl` (60 s): a service always
      receives one with at least ttl - resign_after seconds left, as if issued a few seconds earlier.
    """

    def __init__(self, keys: KeyRing, issuer: str, internal_secret: str, *, max_tokens: int = 4096,
                 principal_ttl: int = 60, resign_after: float = 10.0) -> None:
        self.keys = keys
        self.issuer = issuer
        self.internal_secret = internal_secret
        self.max_tokens = max_tokens
        self.principal_ttl = principal_ttl
        self.resign_after = resign_after
        # token → (principal, token exp, signed principal, monotonic time it was signed)
        self._verified: dict[str, tuple[Principal, float, str, float]] = {}
        self._public: tuple[str, float] | None = None

    def authenticate(self, authorization: str | None) -> tuple[Principal, str] | None:
        """None when no credentials were sent; a Problem(401) when they were sent but are not valid."""
        if not authorization:
            return None
        token = bearer_token(authorization)
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
        try:
            principal, exp, _claims = verify_access_token(self.keys, token, issuer=self.issuer)
        except InvalidToken as exc:
            raise Problem(401, "invalid-token", f"令牌无效或已过期：{exc}") from exc
        signed = self._sign(principal)
        if len(self._verified) >= self.max_tokens:
            self._verified.clear()
        self._verified[token] = (principal, exp, signed, time.monotonic())
        return principal, signed

    def _sign(self, principal: Principal) -> str:
        return sign_principal(principal, self.internal_secret, ttl_seconds=self.principal_ttl)
