"""`python -m gateway.identity …`: accounts, machine clients, signing keys, demo identities.

Works on the database of GATEWAY_DATABASE_URL (or --database-url), migrated first. Secrets are never taken from
the command line (they would show in `ps` and shell history): --password-stdin reads one line, otherwise a random
one is generated and printed once.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select, update

from gateway.config import GatewaySettings
from gateway.identity import accounts
from gateway.identity.seed import DEMO_IDENTITIES, seed_demo
from gateway.identity.service import Identity
from gateway.store.tables import oauth_client, signing_key, staff_account
from services.common.db import upgrade_database
from services.common.principal import Role

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway.identity", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: GATEWAY_DATABASE_URL")
    groups = parser.add_subparsers(dest="group", required=True)

    acc = groups.add_parser("accounts", help="staff accounts").add_subparsers(dest="command", required=True)
    add = acc.add_parser("add", help="add a staff account")
    add.add_argument("username")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role if r not in (Role.public, Role.platform)])
    add.add_argument("--department", required=True)
    add.add_argument("--region", required=True, help="12-digit region code; '' for the whole province")
    add.add_argument("--password-stdin", action="store_true")
    acc.add_parser("list", help="list staff accounts")
    for name, text in (("unlock", "clear a lock-out"), ("deactivate", "refuse logins and refreshes"),
                       ("activate", "allow logins again")):
        acc.add_parser(name, help=text).add_argument("username")
    acc.add_parser("deactivate-demo", help="deactivate every demo account and demo client (before production)")

    cli = groups.add_parser("clients", help="OAuth2 machine clients").add_subparsers(dest="command", required=True)
    cadd = cli.add_parser("add", help="add a machine client (client credentials)")
    cadd.add_argument("client_id")
    cadd.add_argument("--name", required=True)
    cadd.add_argument("--region", required=True)
    cadd.add_argument("--secret-stdin", action="store_true")

    keys = groups.add_parser("keys", help="token signing keys").add_subparsers(dest="command", required=True)
    keys.add_parser("rotate", help="activate a new key; the old one verifies until its tokens expire")
    keys.add_parser("prune", help="unpublish retired keys whose tokens have all expired")
    keys.add_parser("list", help="list keys")

    groups.add_parser("seed-demo", help="add the demo identities (idempotent)")
    return parser


def _secret(from_stdin: bool) -> tuple[str, bool]:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return secrets.token_urlsafe(18), True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = GatewaySettings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    upgrade_database(settings.database_url, MIGRATIONS)
    identity = Identity.from_settings(settings)
    engine, now = identity.engine, identity.clock()
    try:
        if args.group == "accounts" and args.command == "add":
            password, generated = _secret(args.password_stdin)
            accounts.add_staff_account(engine, identity.passwords, username=args.username, password=password,
                                       name=args.name, role=Role(args.role), department=args.department,
                                       region_code=args.region, now=now)
            print(f"added {args.username}" + (f"; password (shown once): {password}" if generated else ""))
        elif args.group == "accounts" and args.command == "list":
            with engine.connect() as conn:
                for row in conn.execute(select(staff_account).order_by(staff_account.c.username)):
                    locked = " locked" if identity.checker.policy.is_locked(row.locked_until, now) else ""
                    flags = ("" if row.active else " inactive") + (" demo" if row.demo else "") + locked
                    print(f"{row.username:<24} {row.role:<20} {row.region_code or '(province)':<13} "
                          f"{row.department}{flags}")
        elif args.group == "accounts" and args.command in ("unlock", "deactivate", "activate"):
            done = (accounts.unlock(engine, args.username) if args.command == "unlock"
                    else accounts.set_active(engine, args.username, args.command == "activate"))
            if not done:
                print(f"no account {args.username}", file=sys.stderr)
                return 1
            print(f"{args.command}d {args.username}")
        elif args.group == "accounts" and args.command == "deactivate-demo":
            with engine.begin() as conn:
                staff = conn.execute(update(staff_account).where(staff_account.c.demo.is_(True))
                                     .values(active=False)).rowcount
                clients = conn.execute(update(oauth_client).where(oauth_client.c.demo.is_(True))
                                       .values(active=False)).rowcount
            print(f"deactivated {staff} demo accounts and {clients} demo clients")
        elif args.group == "clients":
            secret, generated = _secret(args.secret_stdin)
            accounts.add_client(engine, identity.passwords, client_id=args.client_id, secret=secret, name=args.name,
                                role=Role.platform, region_code=args.region, now=now)
            print(f"added client {args.client_id}" + (f"; secret (shown once): {secret}" if generated else ""))
        elif args.group == "keys" and args.command == "rotate":
            print(f"active key {identity.keys.rotate()}")
        elif args.group == "keys" and args.command == "prune":
            pruned = identity.keys.prune()
            print(f"unpublished {', '.join(pruned) if pruned else 'nothing'}")
        elif args.group == "keys":
            with engine.connect() as conn:
                for row in conn.execute(select(signing_key).order_by(signing_key.c.created_at)):
                    state = ("unpublished" if row.unpublished_at else "retired" if row.retired_at
                             else "active" if row.activated_at else "new")
                    print(f"{row.kid}  {row.algorithm}  {state:<11} created {row.created_at.isoformat()}")
        elif args.group == "seed-demo":
            added = seed_demo(engine, identity.passwords)
            print(f"demo identities: {len(DEMO_IDENTITIES)} ({len(added)} added)")
    except (accounts.AccountExists, ValueError) as exc:
        print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
