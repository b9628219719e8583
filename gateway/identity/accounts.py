"""Staff accounts (password login) and machine clients (OAuth2 client credentials) in the gateway's database.

Both authenticate the same way: argon2id verify, lock-out after consecutive failures (state in the database,
so it survives restarts and every gateway process sees it), one answer for every failure. `add_staff_account`
and `add_client` are how the CLI, the demo seed and tests create them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, insert, select, update

from gateway.identity.lockout import LockoutPolicy
from gateway.identity.passwords import Passwords
from gateway.store.tables import oauth_client, staff_account
from services.common.principal import Principal, PrincipalKind, Role


class AccountExists(Exception):
    pass


@dataclass(frozen=True)
class _Credential:
    table: Table
    key: str  # primary key column: username / client_id
    secret: str  # hash column


_STAFF = _Credential(staff_account, "username", "password_hash")
_CLIENT = _Credential(oauth_client, "client_id", "secret_hash")


def staff_principal(row: Any) -> Principal:
    return Principal(kind=PrincipalKind.staff, subject=row.username, name=row.name, role=Role(row.role),
                     department=row.department, region_code=row.region_code)


def client_principal(row: Any) -> Principal:
    return Principal(kind=PrincipalKind.machine, subject=row.client_id, name=row.name, role=Role(row.role),
                     department="", region_code=row.region_code)


def add_staff_account(engine: Engine, passwords: Passwords, *, username: str, password: str, name: str, role: Role,
                      department: str, region_code: str, now: datetime, demo: bool = False) -> None:
    _check_region(region_code)
    with engine.begin() as conn:
        if conn.execute(select(staff_account.c.username).where(staff_account.c.username == username)).first():
            raise AccountExists(username)
        conn.execute(insert(staff_account).values(
            username=username, password_hash=passwords.hash(password), name=name, role=Role(role).value,
            department=department, region_code=region_code, active=True, demo=demo, failed_attempts=0,
            locked_until=None, password_changed_at=now, created_at=now))


def add_client(engine: Engine, passwords: Passwords, *, client_id: str, secret: str, name: str, role: Role,
               region_code: str, now: datetime, demo: bool = False) -> None:
    _check_region(region_code)
    with engine.begin() as conn:
        if conn.execute(select(oauth_client.c.client_id).where(oauth_client.c.client_id == client_id)).first():
            raise AccountExists(client_id)
        conn.execute(insert(oauth_client).values(
            client_id=client_id, secret_hash=passwords.hash(secret), name=name, role=Role(role).value,
            region_code=region_code, active=True, demo=demo, failed_attempts=0, locked_until=None, created_at=now))


def set_active(engine: Engine, username: str, active: bool) -> bool:
    with engine.begin() as conn:
        return bool(conn.execute(update(staff_account).where(staff_account.c.username == username)
                                 .values(active=active)).rowcount)


def unlock(engine: Engine, username: str) -> bool:
    with engine.begin() as conn:
        return bool(conn.execute(update(staff_account).where(staff_account.c.username == username)
                                 .values(failed_attempts=0, locked_until=None)).rowcount)


def _check_region(region_code: str) -> None:
    if region_code and not (len(region_code) == 12 and region_code.isdigit()):
        raise ValueError(f"region code must be 12 digits or '' (the province): {region_code!r}")


class CredentialChecker:
    """Checks a username and password (or a client id and secret) against the database."""

    def __init__(self, engine: Engine, passwords: Passwords, policy: LockoutPolicy) -> None:
        self.engine = engine
        self.passwords = passwords
        self.policy = policy

    def staff(self, username: str, password: str, now: datetime) -> Principal | None:
        row = self._check(_STAFF, username, password, now)
        return None if row is None else staff_principal(row)

    def client(self, client_id: str, secret: str, now: datetime) -> Principal | None:
        row = self._check(_CLIENT, client_id, secret, now)
        return None if row is None else client_principal(row)

    def _check(self, cred: _Credential, identifier: str, secret: str, now: datetime) -> Any | None:
        """The row when the secret matches an active, unlocked account; None for every kind of failure."""
        table, key = cred.table, cred.table.c[cred.key]
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(key == identifier)).first()
        # argon2 runs whatever we know: an unknown, inactive or locked account costs what a wrong password costs.
        matches = self.passwords.verify(getattr(row, cred.secret) if row is not None else None, secret)
        if row is None or not row.active:
            return None
        with self.engine.begin() as conn:
            # Re-read inside the write transaction: concurrent failures must each count.
            row = conn.execute(select(table).where(key == identifier).with_for_update()).first()
            if row is None or self.policy.is_locked(row.locked_until, now):
                return None
            if not matches:
                failed, locked_until = self.policy.after_failure(row.failed_attempts, now)
                conn.execute(update(table).where(key == identifier)
                             .values(failed_attempts=failed, locked_until=locked_until))
                return None
            changes: dict[str, Any] = {}
            if row.failed_attempts or row.locked_until is not None:
                changes |= {"failed_attempts": 0, "locked_until": None}
            stored = getattr(row, cred.secret)
            if self.passwords.needs_rehash(stored):
                changes[cred.secret] = self.passwords.hash(secret)
            if changes:
                conn.execute(update(table).where(key == identifier).values(**changes))
        return row
