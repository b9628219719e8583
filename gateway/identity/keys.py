"""Token signing keys: Ed25519 (EdDSA), kept in the gateway's signing_key table, published as a JWKS.

One key is active and signs new tokens. `rotate` activates a new one and retires the old: the old key signs
nothing more but stays published and keeps verifying until the last token it signed has expired, so rotation
needs no downtime. Every gateway process reads the same table: a process that meets a `kid` it does not know
reloads (at most once per `unknown_kid_reload_seconds`, so garbage kids cannot turn every request into a query),
and re-reads the active key every `reload_seconds`, so all processes sign with the new key soon after a rotation.

Private keys are stored as PKCS#8 PEM in the database, readable only by the gateway's database role.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, insert, select, update

from gateway.identity.clock import Clock, utc_now
from gateway.store.tables import signing_key

ALGORITHM = "EdDSA"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """RFC 8037 OKP key; `kid` is its RFC 7638 thumbprint, so the same key always has the same id."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    thumbprint = _b64url(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
    return members | {"kid": thumbprint, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    jwk: dict[str, str]
    activated_at: datetime | None
    retired_at: datetime | None


def _from_row(row: Any) -> SigningKey:
    private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey), row.kid
    return SigningKey(kid=row.kid, private_key=private, public_key=private.public_key(),
                      jwk=json.loads(row.public_jwk), activated_at=row.activated_at, retired_at=row.retired_at)


class KeyRing:
    """The signing keys as this process knows them; `published_for` = how long a retired key keeps verifying
    (the longest access-token lifetime plus clock leeway)."""

    def __init__(self, engine: Engine, *, published_for: timedelta, clock: Clock = utc_now,
                 reload_seconds: float = 30.0, unknown_kid_reload_seconds: float = 1.0) -> None:
        self.engine = engine
        self.published_for = published_for
        self.clock = clock
        self.reload_seconds = reload_seconds
        self.unknown_kid_reload_seconds = unknown_kid_reload_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active: SigningKey | None = None
        self._loaded_at = float("-inf")

    # ---- administration (CLI, start-up) ------------------------------------------------------------

    def ensure_active(self) -> str:
        """The active key's kid, generating the first key when the table has none (first start)."""
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: two starting processes make one key
            active = conn.execute(select(signing_key.c.kid).where(
                signing_key.c.activated_at.is_not(None), signing_key.c.retired_at.is_(None),
            ).order_by(signing_key.c.activated_at.desc())).first()
            kid = active.kid if active else self._insert_new(conn)
        self.reload()
        return kid

    def rotate(self) -> str:
        """A new active key; the previous one retires (still published until its tokens have expired)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(update(signing_key).where(signing_key.c.activated_at.is_not(None),
                                                   signing_key.c.retired_at.is_(None)).values(retired_at=now))
            kid = self._insert_new(conn)
        self.reload()
        return kid

    def prune(self) -> list[str]:
        """Unpublishes retired keys whose last token has expired; returns their kids."""
        cutoff = self.clock() - self.published_for
        with self.engine.begin() as conn:
            kids = list(conn.execute(select(signing_key.c.kid).where(
                signing_key.c.retired_at.is_not(None), signing_key.c.retired_at <= cutoff,
                signing_key.c.unpublished_at.is_(None))).scalars())
            if kids:
                conn.execute(update(signing_key).where(signing_key.c.kid.in_(kids)).values(unpublished_at=self.clock()))
        self.reload()
        return kids

    def _insert_new(self, conn: Any) -> str:
        private = Ed25519PrivateKey.generate()
        jwk = public_jwk(private.public_key())
        now = self.clock()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        conn.execute(insert(signing_key).values(kid=jwk["kid"], algorithm=ALGORITHM, private_pem=pem,
                                                public_jwk=json.dumps(jwk), created_at=now, activated_at=now))
        return jwk["kid"]

    # ---- use (every request) -----------------------------------------------------------------------

    def reload(self) -> None:
        cutoff = self.clock() - self.published_for
        with self.engine.connect() as conn:
            rows = conn.execute(select(signing_key).where(signing_key.c.unpublished_at.is_(None))).all()
        keys = {k.kid: k for k in map(_from_row, rows) if k.retired_at is None or k.retired_at > cutoff}
        active = [k for k in keys.values() if k.activated_at is not None and k.retired_at is None]
        with self._lock:
            self._keys = keys
            self._active = max(active, key=lambda k: k.activated_at or cutoff) if active else None
            self._loaded_at = time.monotonic()

    def signing_key(self) -> SigningKey:
        if self._active is None or time.monotonic() - self._loaded_at >= self.reload_seconds:
            self.reload()
        if self._active is None:
            raise RuntimeError("no active signing key: run `python -m gateway.identity keys rotate`")
        return self._active

    def verification_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for `kid` while it is published; None for a kid that is unknown or no longer valid."""
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at >= self.unknown_kid_reload_seconds:
            self.reload()
            key = self._keys.get(kid)
        if key is not None and key.retired_at is not None and key.retired_at <= self.clock() - self.published_for:
            return None
        return None if key is None else key.public_key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """RFC 7517 key set: the public parts of every published key, the active one first."""
        if time.monotonic() - self._loaded_at >= self.reload_seconds:
            self.reload()
        keys = sorted(self._keys.values(), key=lambda k: (k.retired_at is not None, k.kid))
        return {"keys": [dict(k.jwk) for k in keys]}
