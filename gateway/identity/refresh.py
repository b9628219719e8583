"""Refresh tokens: opaque random strings, only their sha256 stored, rotated on every use.

A login starts a family; each refresh marks the presented token used and issues the next one of the family with
the family's original expiry (a login lasts at most one refresh lifetime: a working day). Presenting a token that
was already used means two parties hold the family (RFC 9700 §4.14.2): the whole family is revoked, the thief's
and the clerk's tokens alike, and the clerk logs in again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from gateway.store.tables import refresh_token


class InvalidGrant(Exception):
    """Unknown, expired, revoked or reused refresh token (RFC 6749 invalid_grant)."""


@dataclass(frozen=True)
class Rotated:
    username: str
    family_id: str
    token: str  # the next refresh token of the family


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_family(engine: Engine, username: str, *, now: datetime, ttl: timedelta) -> tuple[str, str]:
    """(family_id, refresh token) for a new login."""
    family_id = secrets.token_hex(16)
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(refresh_token).values(token_hash=_digest(token), family_id=family_id, username=username,
                                                  issued_at=now, expires_at=now + ttl))
    return family_id, token


def rotate(engine: Engine, token: str, *, now: datetime) -> Rotated:
    """Uses `token` once: the next token of its family, or InvalidGrant (and the family revoked on reuse)."""
    digest = _digest(token)
    with engine.begin() as conn:
        row = conn.execute(select(refresh_token).where(refresh_token.c.token_hash == digest).with_for_update()).first()
        if row is None:
            raise InvalidGrant("unknown refresh token")
        if row.used_at is not None:
            conn.execute(update(refresh_token).where(refresh_token.c.family_id == row.family_id,
                                                     refresh_token.c.revoked_at.is_(None)).values(revoked_at=now))
            reuse = True
        else:
            reuse = False
            if row.revoked_at is not None:
                raise InvalidGrant("refresh token revoked")
            if row.expires_at <= now:
                raise InvalidGrant("refresh token expired")
            conn.execute(update(refresh_token).where(refresh_token.c.token_hash == digest).values(used_at=now))
            following = secrets.token_urlsafe(32)
            conn.execute(insert(refresh_token).values(token_hash=_digest(following), family_id=row.family_id,
                                                      username=row.username, issued_at=now,
                                                      expires_at=row.expires_at))
    # Raised after the commit: the revocation of a reused family must persist.
    if reuse:
        raise InvalidGrant("refresh token reused: its family is revoked")
    return Rotated(username=row.username, family_id=row.family_id, token=following)


def revoke_family(engine: Engine, family_id: str, *, now: datetime, username: str | None = None) -> int:
    """Revokes every live token of the family (of `username`'s, when given); returns how many."""
    condition = [refresh_token.c.family_id == family_id, refresh_token.c.revoked_at.is_(None)]
    if username is not None:
        condition.append(refresh_token.c.username == username)
    with engine.begin() as conn:
        return int(conn.execute(update(refresh_token).where(*condition).values(revoked_at=now)).rowcount)


def family_of(engine: Engine, token: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(refresh_token.c.family_id)
                            .where(refresh_token.c.token_hash == _digest(token))).scalar_one_or_none()
