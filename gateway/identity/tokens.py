"""Access tokens: EdDSA-signed JWTs (PyJWT + cryptography) with `kid`, verified against the key ring.

Claims: the registered ones (iss, aud, sub, iat, exp, jti) and the principal's own (kind, subject, name, role,
department, region_code) as `services.common.principal.Principal` reads them; `sid` names the refresh-token family
of a staff login, so logout can end that login.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import jwt

from gateway.identity.keys import ALGORITHM, KeyRing
from services.common.principal import Principal

AUDIENCE = "zwfw-gateway"
# Seconds of clock skew tolerated between the gateway processes that issue and verify.
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    """The bearer token is not one of ours, or no longer valid; the message says why (for the 401's detail)."""


def issue_access_token(keys: KeyRing, principal: Principal, *, issuer: str, ttl_seconds: int, now: datetime,
                       session_id: str | None = None) -> str:
    key = keys.signing_key()
    issued = int(now.timestamp())
    claims = principal.model_dump(mode="json") | {
        "iss": issuer, "aud": AUDIENCE, "sub": principal.subject, "iat": issued, "exp": issued + ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify_access_token(keys: KeyRing, token: str, *, issuer: str) -> tuple[Principal, float, dict[str, object]]:
    """The principal, the token's exp, and its claims. Only EdDSA is accepted: a token claiming HS256 or none,
    whatever key it was made with, never reaches a verifier (no algorithm confusion)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} not accepted")
    kid = header.get("kid")
    public_key = keys.verification_key(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise InvalidToken("unknown or retired signing key")
    try:
        claims = jwt.decode(token, public_key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=issuer,
                            leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "aud", "iss", "sub"]})
        principal = Principal.model_validate(claims)
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
    if principal.subject != claims["sub"]:
        raise InvalidToken("subject does not match sub")
    return principal, float(claims["exp"]), claims
