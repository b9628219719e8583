"""The gateway's identity provider: logins, client credentials, refresh, logout, and the keys tokens are signed
with. Built once per gateway process over the gateway database (`Identity.from_settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, select

from gateway.config import GatewaySettings
from gateway.identity import refresh
from gateway.identity.accounts import CredentialChecker, staff_principal
from gateway.identity.clock import Clock, utc_now
from gateway.identity.keys import KeyRing
from gateway.identity.lockout import LockoutPolicy
from gateway.identity.passwords import Passwords
from gateway.identity.tokens import LEEWAY_SECONDS, issue_access_token
from gateway.store.tables import oauth_client, staff_account
from services.common.db import make_engine
from services.common.principal import Principal


class DemoIdentitiesInProduction(RuntimeError):
    pass


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    refresh_token: str | None = None

    def body(self) -> dict[str, object]:
        """RFC 6749 §5.1 token response."""
        body: dict[str, object] = {"access_token": self.access_token, "token_type": "Bearer",
                                   "expires_in": self.expires_in}
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass
class Identity:
    engine: Engine
    settings: GatewaySettings
    clock: Clock = utc_now
    passwords: Passwords = field(default_factory=Passwords)
    keys: KeyRing = field(init=False)
    checker: CredentialChecker = field(init=False)

    def __post_init__(self) -> None:
        # A retired key verifies until the last token it signed has expired, leeway included.
        self.keys = KeyRing(self.engine, clock=self.clock, reload_seconds=self.settings.key_reload_seconds,
                            published_for=timedelta(seconds=self.settings.access_token_ttl_seconds + LEEWAY_SECONDS))
        self.checker = CredentialChecker(self.engine, self.passwords, LockoutPolicy(
            threshold=self.settings.lockout_threshold, duration=timedelta(minutes=self.settings.lockout_minutes)))

    @classmethod
    def from_settings(cls, settings: GatewaySettings, clock: Clock = utc_now) -> Identity:
        return cls(engine=make_engine(settings.database_url), settings=settings, clock=clock)

    def start(self) -> None:
        """At gateway start-up: refuse demo identities in production, make the first key if there is none."""
        if self.settings.env == "production":
            self.refuse_demo_identities()
        self.keys.ensure_active()

    def refuse_demo_identities(self) -> None:
        with self.engine.connect() as conn:
            staff = conn.execute(select(staff_account.c.username).where(
                staff_account.c.demo.is_(True), staff_account.c.active.is_(True))).scalars().all()
            clients = conn.execute(select(oauth_client.c.client_id).where(
                oauth_client.c.demo.is_(True), oauth_client.c.active.is_(True))).scalars().all()
        if staff or clients:
            raise DemoIdentitiesInProduction(
                "production refuses to start with active demo identities in the gateway database: "
                f"{', '.join([*staff, *clients])}; deactivate them "
                "(python -m gateway.identity accounts deactivate-demo)")

    # ---- grants ------------------------------------------------------------------------------------

    def password_login(self, username: str, password: str) -> TokenGrant | None:
        now = self.clock()
        principal = self.checker.staff(username, password, now)
        if principal is None:
            return None
        family_id, refresh_token = refresh.start_family(
            self.engine, principal.subject, now=now, ttl=timedelta(seconds=self.settings.refresh_token_ttl_seconds))
        return self._grant(principal, family_id, refresh_token)

    def client_credentials(self, client_id: str, secret: str) -> TokenGrant | None:
        principal = self.checker.client(client_id, secret, self.clock())
        # No refresh token for a machine (RFC 6749 §4.4.3): it authenticates again.
        return None if principal is None else self._grant(principal, None, None)

    def refresh(self, token: str) -> TokenGrant:
        """The next access and refresh token, with the account as it is now; raises refresh.InvalidGrant."""
        now = self.clock()
        rotated = refresh.rotate(self.engine, token, now=now)
        with self.engine.connect() as conn:
            row = conn.execute(select(staff_account).where(staff_account.c.username == rotated.username)).first()
        if row is None or not row.active:
            refresh.revoke_family(self.engine, rotated.family_id, now=now)
            raise refresh.InvalidGrant("account deactivated")
        return self._grant(staff_principal(row), rotated.family_id, rotated.token)

    def logout(self, principal: Principal, family_id: str) -> int:
        return refresh.revoke_family(self.engine, family_id, now=self.clock(), username=principal.subject)

    def _grant(self, principal: Principal, family_id: str | None, refresh_token: str | None) -> TokenGrant:
        ttl = self.settings.access_token_ttl_seconds
        access = issue_access_token(self.keys, principal, issuer=self.settings.token_issuer, ttl_seconds=ttl,
                                    now=self.clock(), session_id=family_id)
        return TokenGrant(access_token=access, expires_in=ttl, refresh_token=refresh_token)
