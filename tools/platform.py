"""Starts the whole platform on its embedded defaults: Kafka, the four services and the gateway.

`make run` calls `python -m tools.platform run`; the end-to-end tests use `Platform` directly so they
start exactly what an operator starts. `KAFKA_BOOTSTRAP_SERVERS` and per-service `<NAME>_DATABASE_URL`
point it at existing infrastructure instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from gateway.identity.accounts import add_client, add_staff_account
from gateway.identity.clock import utc_now
from gateway.identity.passwords import Passwords
from gateway.identity.seed import COUNTY, DEMO_IDENTITIES, TOWNSHIP, VILLAGE, seed_demo
from services.common.db import make_engine, upgrade_database
from services.common.messaging.admin import ensure_topics
from services.common.principal import PrincipalKind, Role
from tools.kafka_broker import JavaMissing, KafkaBroker, check_java, free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("acceptance", "approval", "disclosure", "monitoring")
DEFAULT_PORTS = {"gateway": 8000, "acceptance": 8001, "approval": 8002, "disclosure": 8003, "monitoring": 8004,
                 "kafka": 9092}
DEMO_CATALOGUE = ROOT / "services" / "disclosure" / "demo" / "catalogue.json"
# Tests and benches run for longer than the 15-minute default access token and log in once at the start.
LONG_ACCESS_TOKEN_TTL_SECONDS = 12 * 3600
# Tests and benchmarks send everything from 127.0.0.1 with a handful of logins: the gateway's per-address and
# per-client limits (gateway/door_settings.py) would throttle them, not protect anything. Their own tests set
# small limits on purpose (tests/integration/gateway/test_door.py).
UNTHROTTLED = {"GATEWAY_RATELIMIT_PUBLIC": "1000000/second", "GATEWAY_RATELIMIT_CLIENT": "1000000/second",
               "GATEWAY_RATELIMIT_IDENTITY": "1000000/second"}

__all__ = ["COUNTY", "TOWNSHIP", "VILLAGE", "Platform", "demo_tokens", "login"]


def login(base_url: str, username: str, password: str) -> str:
    """A staff member's access token, through the gateway's login as a front end gets it."""
    status, body = http_json("POST", f"{base_url}/api/v1/auth/login", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {username} refused: {status} {body}")
    return str(body["access_token"])


def client_token(base_url: str, client_id: str, secret: str) -> str:
    """A machine client's access token (OAuth2 client credentials, HTTP Basic as RFC 6749 §2.3.1 prefers)."""
    basic = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()
    req = urllib.request.Request(f"{base_url}/oauth/token", data=b"grant_type=client_credentials", method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return str(json.loads(resp.read())["access_token"])
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"client {client_id} refused: {err.code} {err.read()!r}") from None


def demo_tokens(base_url: str) -> dict[str, str]:
    """An access token for every demo identity, by logging each in through the running gateway."""
    return {d.username: (client_token(base_url, d.username, d.password) if d.kind is PrincipalKind.machine
                         else login(base_url, d.username, d.password)) for d in DEMO_IDENTITIES}


@dataclass
class Platform:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    # GATEWAY_ACCESS_TOKEN_TTL_SECONDS; None keeps the gateway's default (15 min), as `make run` does.
    access_token_ttl_seconds: int | None = None
    # GATEWAY_RATELIMIT_*; None keeps the gateway's limits, as `make run` does.
    rate_limits: dict[str, str] | None = None
    broker: KafkaBroker | None = None
    bootstrap_servers: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, data_dir: Path, **kwargs: Any) -> Platform:
        kwargs.setdefault("access_token_ttl_seconds", LONG_ACCESS_TOKEN_TTL_SECONDS)
        kwargs.setdefault("rate_limits", UNTHROTTLED)
        return cls(data_dir=data_dir, ports={name: free_port() for name in DEFAULT_PORTS}, **kwargs)

    def url(self, name: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database_url(self, service: str) -> str:
        return os.environ.get(f"{service.upper()}_DATABASE_URL") or f"sqlite:///{self.data_dir / service}.db"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "ZWFW_TOPIC_PREFIX": self.topic_prefix,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        for service in SERVICES:
            env[f"{service.upper()}_DATABASE_URL"] = self.database_url(service)
            env[f"GATEWAY_{service.upper()}_URL"] = self.url(service)
        env["GATEWAY_DATABASE_URL"] = self.database_url("gateway")
        if self.access_token_ttl_seconds is not None:
            env["GATEWAY_ACCESS_TOKEN_TTL_SECONDS"] = str(self.access_token_ttl_seconds)
        env.update(self.rate_limits or {})
        env.update(self.extra_env)
        return env

    # ---- infrastructure ----------------------------------------------------------------------------

    def start_kafka(self, bootstrap_servers: str | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if bootstrap_servers:
            self.bootstrap_servers = bootstrap_servers
        else:
            self.broker = KafkaBroker(data_dir=self.data_dir / "kafka", port=self.ports["kafka"])
            self.broker.start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        asyncio.run(ensure_topics(self.bootstrap_servers, self.topic_prefix))

    def migrate(self) -> None:
        for service in SERVICES:
            upgrade_database(self.database_url(service), ROOT / "services" / service / "migrations")
        upgrade_database(self.database_url("gateway"), ROOT / "gateway" / "migrations")

    def seed_demo_identities(self) -> list[str]:
        """The demo accounts and clients in the gateway's database (idempotent); the ones added."""
        engine = make_engine(self.database_url("gateway"))
        try:
            return seed_demo(engine)
        finally:
            engine.dispose()

    def add_account(self, username: str, password: str, *, name: str, role: Role, department: str,
                    region_code: str) -> None:
        """A staff account in this platform's gateway database, as `python -m gateway.identity accounts add` makes
        one; the running gateway lets it log in at once."""
        engine = make_engine(self.database_url("gateway"))
        try:
            add_staff_account(engine, Passwords(), username=username, password=password, name=name, role=role,
                              department=department, region_code=region_code, now=utc_now())
        finally:
            engine.dispose()

    def add_client(self, client_id: str, secret: str, *, name: str, role: Role, region_code: str) -> None:
        """A machine client (OAuth2 client credentials) in this platform's gateway database."""
        engine = make_engine(self.database_url("gateway"))
        try:
            add_client(engine, Passwords(), client_id=client_id, secret=secret, name=name, role=role,
                       region_code=region_code, now=utc_now())
        finally:
            engine.dispose()

    # ---- processes ---------------------------------------------------------------------------------

    def start_process(self, name: str, env: dict[str, str] | None = None) -> None:
        module = "gateway.main:app" if name == "gateway" else f"services.{name}.main:app"
        # The gateway is the edge here: it must not take a caller's X-Forwarded-For as the caller's address
        # (uvicorn trusts it from 127.0.0.1 by default), or per-address limits are one forged header away.
        edge = ["--no-proxy-headers"] if name == "gateway" else []
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(self.ports[name]),
             "--no-access-log", "--log-level", "warning", *edge],
            cwd=ROOT, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        path = "/healthz" if name == "gateway" else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.data_dir / name}.log")
            try:
                with urllib.request.urlopen(self.url(name) + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s; see {self.data_dir / name}.log")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def start(self, bootstrap_servers: str | None = None) -> None:
        self.start_kafka(bootstrap_servers)
        self.migrate()
        self.seed_demo_identities()
        for name in (*SERVICES, "gateway"):
            self.start_process(name)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()

    # ---- demo data ---------------------------------------------------------------------------------

    def load_demo_catalogue(self, token: str) -> list[str]:
        """Creates and publishes the demo items through the gateway, as a catalogue administrator would."""
        items = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
        published = []
        for item in items:
            status, body = http_json("GET", f"{self.url()}/api/v1/catalogue/items/{item['item_code']}")
            if status == 200:
                published.append(item["item_code"])
                continue
            status, body = http_json("POST", f"{self.url()}/api/v1/catalogue/items", item, token)
            if status not in (201, 409):
                raise RuntimeError(f"demo item {item['item_code']} refused: {status} {body}")
            status, body = http_json("POST", f"{self.url()}/api/v1/catalogue/items/{item['item_code']}/publish",
                                     {}, token)
            if status != 200:
                raise RuntimeError(f"demo item {item['item_code']} not published: {status} {body}")
            published.append(item["item_code"])
        return published


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def run() -> None:
    try:
        check_java()
    except JavaMissing as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    platform = Platform(data_dir=ROOT / "var")
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        print("Starting Kafka, migrating databases, starting services …", flush=True)
        platform.start(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
        tokens = demo_tokens(platform.url())
        (platform.data_dir / "demo-tokens.json").write_text(json.dumps(tokens, indent=2, ensure_ascii=False))
        items = platform.load_demo_catalogue(tokens["catalogue-admin"])
        print_banner(platform, items)
        while not stop and all(p.poll() is None for p in platform.processes.values()):
            time.sleep(0.5)
        dead = [n for n, p in platform.processes.items() if p.poll() is not None]
        if dead:
            print(f"Stopped because {', '.join(dead)} exited; see var/<name>.log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping everything …", flush=True)
        platform.stop()


def print_banner(platform: Platform, items: list[str]) -> None:
    print("\n政务服务平台 is running (Ctrl-C stops everything)")
    print(f"  gateway     {platform.url()}   (API docs: {platform.url()}/docs)")
    for service in SERVICES:
        print(f"  {service:<11} {platform.url(service)}   database {platform.database_url(service)}")
    print(f"  kafka       {platform.bootstrap_servers}")
    print(f"  logs        {platform.data_dir}/<name>.log")
    print(f"  catalogue   {len(items)} demo items published")
    print("\nDemo accounts (demo only: production refuses to start with them; access tokens for 15 minutes in "
          "var/demo-tokens.json):")
    for demo in DEMO_IDENTITIES:
        how = "client secret" if demo.kind is PrincipalKind.machine else "password"
        print(f"  {demo.username:<22} {demo.role.value:<18} region {demo.region_code or '(province)':<13}"
              f" {how} {demo.password}")
    print(f"\nLog in:  curl -s -X POST {platform.url()}/api/v1/auth/login -H 'Content-Type: application/json' "
          """-d '{"username":"county-clerk","password":"demo-county-clerk-2026"}'""")
    print("\nTry:  curl -s http://127.0.0.1:8000/api/v1/catalogue/items | python3 -m json.tool", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        run()
    elif sys.argv[1:2] == ["tokens"]:
        print(json.dumps(demo_tokens(sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"), indent=2))
    else:
        print("usage: python -m tools.platform run | tokens [GATEWAY_URL]", file=sys.stderr)
        raise SystemExit(2)
