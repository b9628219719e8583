"""The gateway's tables. It owns them as every service owns its own: nothing else reads them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from services.common.db import UtcDateTime, new_metadata

metadata = new_metadata()

# Staff who log in with a password (窗口人员, 审批人员, 负责人, 监察, 目录管理员, 公开办, 运维).
staff_account = Table(
    "staff_account",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),  # argon2id, PHC string (argon2-cffi)
    Column("name", String(100), nullable=False),
    Column("role", String(32), nullable=False),  # services.common.principal.Role
    Column("department", String(100), nullable=False),
    Column("region_code", String(12), nullable=False),  # '' = the whole province
    Column("active", Boolean, nullable=False),
    Column("demo", Boolean, nullable=False),  # seeded by `make run`; production refuses to start with one active
    Column("failed_attempts", Integer, nullable=False),  # consecutive failures since the last success
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("password_changed_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Machine clients (OAuth2 client credentials): the provincial platform, a county's own system.
oauth_client = Table(
    "oauth_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("secret_hash", String(256), nullable=False),  # argon2id of the client secret
    Column("name", String(100), nullable=False),
    Column("role", String(32), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("demo", Boolean, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Refresh tokens are opaque random strings; only their sha256 is stored. Each use rotates the token (the old one
# is marked used); presenting a used one again revokes the whole family (RFC 9700 §4.14.2, refresh token reuse).
refresh_token = Table(
    "refresh_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(32), nullable=False),
    Column("username", String(64), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_refresh_token_family", "family_id"),
    Index("ix_refresh_token_username", "username"),
)

# Token signing keys (asymmetric). One is `active` (signs new tokens); `published` ones are in the JWKS, so a key
# stays published after it stops signing until the last token it signed has expired: rotation without downtime.
signing_key = Table(
    "signing_key",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),  # EdDSA
    Column("private_pem", Text, nullable=False),
    Column("public_jwk", Text, nullable=False),  # JSON
    Column("created_at", UtcDateTime(), nullable=False),
    Column("activated_at", UtcDateTime(), nullable=True),
    Column("retired_at", UtcDateTime(), nullable=True),  # stopped signing
    Column("unpublished_at", UtcDateTime(), nullable=True),  # left the JWKS
)

# Every write that passed through the gateway, as a hash chain: entry_hash = sha256(prev_hash + canonical entry).
# Changing, removing or reordering an entry breaks every hash after it; `python -m gateway.audit verify` and
# GET /api/v1/audit/verify find the first broken link.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # staff / machine / public
    Column("role", String(32), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(512), nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("client_address", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)
