"""`make test-postgres`: the end-to-end flow on PostgreSQL, the production database.

Starts a throwaway cluster on 127.0.0.1 from Debian's `postgresql` package (installed by the target if
missing), creates one database per service, and runs the first-flow end-to-end test with every service's
`<NAME>_DATABASE_URL` pointing at it, and disclosure's search test (a database of its own per test on that
server: the search index is a tsvector there, not FTS5). Kept out of `make test` because it needs root to
install the package.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.kafka_broker import free_port

SERVICES = ("acceptance", "approval", "disclosure", "monitoring")


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the package creates the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def main() -> int:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        print("PostgreSQL is not installed: apt-get install postgresql", file=sys.stderr)
        return 1
    bindir = Path(found[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="zwfw-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    server = subprocess.Popen(_as_postgres([
        str(bindir / "postgres"), "-D", str(data / "db"), "-h", "127.0.0.1", "-p", str(port), "-k", str(data),
    ]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        env = dict(os.environ)
        for service in SERVICES:
            subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc",
                            f"CREATE DATABASE {service}"], check=True)
            env[f"{service.upper()}_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{service}"
        test = [sys.executable, "-m", "pytest", "-q", "tests/e2e/test_first_flow.py",
                "tests/integration/disclosure/test_search.py"]  # search: tsvector, not FTS5
        return subprocess.run(test, env=env).returncode
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
