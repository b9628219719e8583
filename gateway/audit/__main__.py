"""`python -m gateway.audit verify [--database-url URL]`: exit 0 when the chain is intact, 1 with the first broken
seq and why (the database defaults to GATEWAY_DATABASE_URL, as the gateway's)."""

from __future__ import annotations

import argparse
import sys

from gateway.audit.store import AuditReader
from services.common.db import make_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.audit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check the audit log's hash chain")
    check.add_argument("--database-url", default=None, help="default: GATEWAY_DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url
    if url is None:
        from gateway.config import GatewaySettings

        url = GatewaySettings().database_url
    engine = make_engine(url)
    try:
        verdict = AuditReader(engine).verify()
    finally:
        engine.dispose()
    if verdict.ok:
        print(f"ok: {verdict.entries} entries, head seq {verdict.head_seq} {verdict.head_hash}")
        return 0
    print(f"broken at seq {verdict.broken_seq}: {verdict.reason} "
          f"(intact up to seq {verdict.head_seq} {verdict.head_hash})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
