"""The whole platform as separate processes on the session's broker, driven through the gateway only."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.kafka_broker import free_port
from tools.platform import Platform, demo_tokens


class SpanCollector:
    """A Zipkin v2 JSON receiver: the services export their spans here over real HTTP."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.port = free_port()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                collector.spans.extend(json.loads(body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/spans"

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["traceId"] == trace_id]


@pytest.fixture(scope="session")
def spans() -> Iterator[SpanCollector]:
    collector = SpanCollector()
    yield collector
    collector.server.shutdown()


@pytest.fixture(scope="session")
def platform(kafka_broker: str, spans: SpanCollector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = Platform.on_free_ports(
        tmp_path_factory.mktemp("platform"),
        topic_prefix=f"e2e{uuid.uuid4().hex[:6]}.",
        extra_env={
            "OTEL_TRACES_EXPORTER": "zipkin_json",
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": spans.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "ZWFW_OUTBOX_SWEEP_SECONDS": "0.5",
        },
    )
    try:
        platform.start(kafka_broker)  # inside: a service that fails to start must not leave the others running
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="session")
def tokens(platform: Platform) -> dict[str, str]:
    """Every demo identity logged in through the gateway (the Platform sets access tokens for 12 h)."""
    return demo_tokens(platform.url())


class Gateway:
    """An HTTP client for the gateway that knows the demo accounts."""

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.tokens = tokens

    def call(self, method: str, path: str, account: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if account:
            headers["Authorization"] = f"Bearer {self.tokens[account]}"
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="session")
def gateway(platform: Platform, tokens: dict[str, str]) -> Iterator[Gateway]:
    gw = Gateway(platform.url(), tokens)
    yield gw
    gw.client.close()


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Polls until `check` returns something truthy; the last failure is raised on timeout."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except AssertionError as exc:
            last = exc
        time.sleep(interval)
    if last:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


def read_sqlite(path: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))
