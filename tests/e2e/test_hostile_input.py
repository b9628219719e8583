"""Hostile input through the gateway: injection and path-traversal strings in every text field and parameter,
and bodies too large for the door (413).

The operations come from the gateway's aggregated OpenAPI document, so an endpoint added later is swept
without editing this file. Each text parameter (path and query) and each text field of a JSON body gets each
hostile string in turn, the other values left valid, signed in as an account whose role may call the operation.
The answer must never be a 5xx, a 4xx must be problem+json, an HTML or SVG answer must not carry the string
unescaped, and no answer may carry another table's data or a file from outside the service's store.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, find, settings
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.config import SchemathesisConfig

from gateway.config import GatewaySettings
from tests.e2e.conftest import Gateway
from tests.e2e.test_gateway_schemathesis import (  # noqa: F401 - the fixture applies to this module too
    PROGRESS_PATH,
    account_for,
    note_call,
    progress_budget_restored,
)
from tools.platform import DEMO_CATALOGUE, Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SQL_TAUTOLOGY = "' OR '1'='1' --"
SCRIPT = "<script>alert('zwfw')</script>"
HOSTILE: tuple[str, ...] = (
    SQL_TAUTOLOGY,
    '"; DROP TABLE material_file; --',
    "1 UNION SELECT name, sql FROM sqlite_master --",
    "{{7*7}}",
    "${7*7}",
    SCRIPT,
    "\x00nul\x00",
    "\x01\x07\x1b[31m\r\nX-Injected: 1",
    "x" * 10_000,
    "\u202eevil\u202c\u200b\u200d\ufeff",  # right-to-left override, zero-width characters, BOM
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%00",
)
# What a leak would look like: a file from outside any store (/etc/passwd), the database's own schema (what a
# UNION over sqlite_master would bring back). None of the hostile strings contains them, so an echo is no leak.
LEAKS: tuple[str, ...] = ("root:x:0:0", "root:*:0:0", "CREATE TABLE", "CREATE INDEX", "sqlite_sequence")
_JSON = "application/json"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HTML_LIKE = ("text/html", "image/svg+xml", "application/xhtml+xml", "application/xml", "text/xml")


@pytest.fixture(scope="module")
def operations(platform: Platform) -> list[APIOperation]:
    config = SchemathesisConfig.from_dict({"request-timeout": 30})
    schema: BaseSchema = schemathesis.openapi.from_url(platform.url() + "/openapi.json", config=config)
    return [result.ok() for result in schema.get_all_operations()]


_serial = itertools.count(1)


def _demo_item() -> dict[str, Any]:
    item: dict[str, Any] = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))[0]
    return item | {"item_code": f"320102000000-96-{uuid.uuid4().hex[:12]}"}


# Bodies the service accepts as they are, for writes where the simplest body the schema allows would be refused
# by a business rule before the hostile value got anywhere: with these, each value is stored, indexed and read.
ACCEPTED_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "POST /api/v1/catalogue/items": _demo_item,
    "POST /api/v1/information-requests": lambda: {
        "region_code": "320102000000", "agency": "玄武区人民政府办公室", "information_wanted": "2025年财政预算",
        "applicant": {"name": "张三", "id_number": "11010519491231002X", "address": "南京市玄武区"}},
    "POST /api/v1/information/documents": lambda: {
        "region_code": "320102000000", "category_code": HOSTILE_CATEGORY, "title": "关于印发通知",
        "issuing_body": "玄武区人民政府", "document_number": f"玄政发〔2026〕{next(_serial)}号",
        "issue_date": "2026-01-05", "body_text": "正文"},
}
HOSTILE_CATEGORY = "FUZZ01"


def minimal_case(operation: APIOperation) -> schemathesis.Case:
    """The simplest request the document allows (Hypothesis' shrunk first example): a valid baseline whose
    fields are replaced one at a time, so the hostile value is what the service has to cope with."""
    return find(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), lambda _: True,
                settings=settings(database=None, derandomize=True, phases=(Phase.generate, Phase.shrink),
                                  suppress_health_check=list(HealthCheck)))


def text_schema(schema: dict[str, Any] | None) -> bool:
    """A parameter that takes free text (not an integer, a boolean or an enumeration)."""
    if not schema:
        return True  # declared without a schema: it takes anything
    options = schema.get("anyOf") or [schema]
    return any(o.get("type") == "string" and "enum" not in o and o.get("format") not in ("date", "date-time")
               for o in options)


def string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, index))


def replaced(body: Any, path: tuple[Any, ...], text: str) -> Any:
    new = copy.deepcopy(body)
    target = new
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = text
    return new


def check_answer(response: httpx.Response, where: str, hostile: str) -> None:
    assert response.status_code < 500, (where, repr(hostile[:60]), response.status_code, response.text[:400])
    content_type = response.headers.get("content-type", "")
    if 400 <= response.status_code < 500:
        assert content_type.startswith("application/problem+json"), (where, response.status_code, content_type)
    assert "x-injected" not in response.headers, (where, response.headers)  # no header split by CR LF
    text = response.text
    for leak in LEAKS:
        assert leak not in text, (where, repr(hostile[:60]), leak, text[:400])
    if content_type.startswith(_HTML_LIKE):
        assert "<script" not in text.lower(), (where, repr(hostile[:60]), text[:400])


def auth(tokens: dict[str, str], method: str, path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[account_for(method, path)]}"}


def test_every_text_parameter_and_json_field_survives_hostile_strings(
        operations: list[APIOperation], gateway: Gateway, tokens: dict[str, str],
        subtests: pytest.Subtests) -> None:
    category = gateway.call("POST", "/api/v1/information/categories", "disclosure-officer",
                            json={"region_code": "320102000000", "code": HOSTILE_CATEGORY, "name": "测试类别"})
    assert category.status_code in (201, 409), category.text
    swept: dict[str, int] = {}
    accepted: set[str] = set()  # operations that took a hostile value and answered 2xx
    # The progress query first: its per-address budget has the rest of the module to recover.
    for operation in sorted(operations, key=lambda o: o.path != PROGRESS_PATH):
        if operation.path.endswith("/stream"):
            continue  # the live stream never ends; its only parameters are the caller's token (swept below)
        text_params = [p for p in operation.definition.raw.get("parameters", [])
                       if p["in"] in ("path", "query") and text_schema(p.get("schema"))]
        has_json = _JSON in operation.definition.raw.get("requestBody", {}).get("content", {})
        if not text_params and not has_json:
            continue
        with subtests.test(msg=operation.label):
            base = minimal_case(operation)
            headers = auth(tokens, operation.method, operation.path)
            path_values = {k: str(v) for k, v in (base.path_parameters or {}).items()}
            query = dict(base.query or {})
            body = base.body if has_json and base.media_type == _JSON else None
            make_body = ACCEPTED_BODIES.get(operation.label)
            if make_body is not None:
                body = make_body()

            def send(path_values: dict[str, str], query: dict[str, Any], body: Any,
                     operation: APIOperation = operation, headers: dict[str, str] = headers) -> httpx.Response:
                url = operation.path.format(**{k: quote(v, safe="") for k, v in path_values.items()})
                note_call(operation.path)
                # Fresh key per request: a replay of an earlier answer would test nothing.
                sent = headers | {"Idempotency-Key": uuid.uuid4().hex}
                if body is None:
                    return gateway.client.request(operation.method.upper(), url, params=query, headers=sent)
                return gateway.client.request(operation.method.upper(), url, params=query, content=json.dumps(body),
                                      headers=sent | {"Content-Type": _JSON})
            count = 0
            for parameter in text_params:
                for hostile in HOSTILE:
                    if parameter["in"] == "path":
                        answer = send(path_values | {parameter["name"]: hostile}, query, body)
                    else:
                        answer = send(path_values, query | {parameter["name"]: hostile}, body)
                    check_answer(answer, f"{operation.label} {parameter['in']} {parameter['name']}", hostile)
                    count += 1
                    if answer.is_success:
                        accepted.add(operation.label)
            if body is not None:
                leaves = list(string_leaves(body))
                # A large body (an item definition has some seventy text fields) gets a rotating share of the
                # strings per field, every string still landing in many fields; small bodies get all of them.
                share = len(HOSTILE) if len(leaves) <= 12 else 4
                for n, leaf in enumerate(leaves):
                    for hostile in (HOSTILE[(n + k) % len(HOSTILE)] for k in range(share)):
                        fresh = make_body() if make_body is not None else body  # a new code, a new 文号
                        answer = send(path_values, query, replaced(fresh, leaf, hostile))
                        check_answer(answer, f"{operation.label} body {'.'.join(map(str, leaf))}", hostile)
                        count += 1
                        if answer.is_success:
                            accepted.add(operation.label)
            swept[operation.label] = count
    assert len(swept) > 40, sorted(swept)
    # Not all refused at the door: hostile strings reached handlers, the database and the search index, and
    # were answered as ordinary text (the rest of the writes need a case or a request to exist first).
    assert {"POST /api/v1/information-requests", "GET /api/v1/catalogue/search", "POST /api/v1/catalogue/items",
            "GET /api/v1/information/documents"} <= accepted, sorted(accepted)


# ---- stored as sent, shown escaped, matched literally -------------------------------------------------------

def test_hostile_text_is_stored_as_sent_escaped_where_rendered_and_never_matched_as_sql(
        gateway: Gateway) -> None:
    item = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))[0]
    serial = uuid.uuid4().int % 10_000
    code, control = f"320102000000-98-{serial:04d}", f"320102000000-97-{serial:04d}"
    name = f"{SCRIPT}{{{{7*7}}}}${{7*7}}{SQL_TAUTOLOGY}\u202e"
    hostile_item = copy.deepcopy(item) | {"item_code": code, "name": name}
    hostile_item["materials"][0]["name"] = f'"; DROP TABLE items; -- {SCRIPT}'
    # A plain item beside it: a query that matched it would have been read as SQL, not as text.
    control_item = copy.deepcopy(item) | {"item_code": control, "name": "普通事项对照组"}
    for definition in (hostile_item, control_item):
        created = gateway.call("POST", "/api/v1/catalogue/items", "catalogue-admin", json=definition)
        assert created.status_code == 201, created.text
        published = gateway.call("POST", f"/api/v1/catalogue/items/{definition['item_code']}/publish",
                                 "catalogue-admin", json={})
        assert published.status_code == 200, published.text

    stored = gateway.call("GET", f"/api/v1/catalogue/items/{code}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["name"] == name  # kept verbatim: neither evaluated (49) nor stripped
    assert stored.json()["materials"][0]["name"] == hostile_item["materials"][0]["name"]

    # The flow chart (SVG) and the process (BPMN XML) carry the name as text, escaped.
    for path in (f"/api/v1/catalogue/items/{code}/flowchart.svg", f"/api/v1/catalogue/items/{code}/process.bpmn"):
        rendered = gateway.call("GET", path)
        assert rendered.status_code == 200, (path, rendered.text[:300])
        assert "<script" not in rendered.text and "&lt;script&gt;" in rendered.text, (path, rendered.text[:600])
        assert "{{7*7}}" in rendered.text and "${7*7}" in rendered.text  # templates left unevaluated

    # SQL in a search or a filter is a string to look for, not a condition: a tautology or a UNION never brings
    # back the plain item, and never the rows of another table (check_answer looks for sqlite_master's).
    everything = gateway.call("GET", "/api/v1/catalogue/items")
    assert control in everything.text
    for path, param in (("/api/v1/catalogue/items", "q"), ("/api/v1/catalogue/search", "q"),
                        ("/api/v1/regions/320102000000/items", "q"), ("/api/v1/information/documents", "q"),
                        ("/api/v1/results", "item_code")):
        for hostile in (SQL_TAUTOLOGY, "x' OR 1=1 --", "1 UNION SELECT name, sql FROM sqlite_master --",
                        "%", "_", "*", "') OR ('a'='a"):
            answer = gateway.call("GET", path, params={param: hostile})
            check_answer(answer, f"GET {path}?{param}", hostile)
            assert answer.status_code in (200, 422), (path, hostile, answer.text[:300])
            assert control not in answer.text, (path, hostile, answer.text[:300])

    # The public annual report page echoes its query parameters in HTML: escaped.
    report = gateway.call("GET", "/api/v1/information/annual-reports/2025/html",
                          params={"region_code": "320102000000", "agency": SCRIPT})
    check_answer(report, "GET annual report html", SCRIPT)


# ---- path traversal ---------------------------------------------------------------------------------------

TRAVERSALS = (
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252f..%252f..%252fetc%252fpasswd",  # encoded twice
    "....//....//....//etc/passwd",
    "..\\..\\..\\etc\\passwd",
    "%00",
    "a" * 64 + "%00.pdf",
    "%2fetc%2fpasswd",
)


def test_material_file_download_never_leaves_the_store(platform: Platform, tokens: dict[str, str]) -> None:
    # Raw requests: an HTTP client would normalise the dot segments away before they reached the gateway.
    for traversal in TRAVERSALS:
        for path in (f"/api/v1/applications/files/{traversal}/content", f"/api/v1/applications/files/{traversal}",
                     f"/api/v1/{traversal}", f"/api/v1/catalogue/items/{traversal}/flowchart.svg"):
            status, _, body = raw_request(platform, f"GET {path} HTTP/1.1\r\nHost: gw\r\n"
                                          f"Authorization: Bearer {tokens['county-clerk']}\r\n"
                                          "Connection: close\r\n\r\n".encode("latin-1"))
            assert 400 <= status < 500, (path, status, body[:300])
            assert b"root:" not in body, (path, body[:300])


def test_an_uploaded_file_name_is_never_a_path(platform: Platform, gateway: Gateway) -> None:
    from services.acceptance.config import AcceptanceSettings
    from tools.platform import ROOT

    marker = f"zwfw-evil-{uuid.uuid4().hex}"
    pdf = b"%PDF-1.4\n" + marker.encode() + b"\n%%EOF\n"
    sha256 = hashlib.sha256(pdf).hexdigest()
    for name in (f"../../../../../../tmp/{marker}.pdf", f"..\\..\\..\\{marker}.pdf",
                 f"/tmp/{marker}.pdf", f"%2e%2e%2f{marker}.pdf"):
        answer = gateway.call("POST", "/api/v1/applications/files", "county-clerk",
                              files={"file": (name, pdf, "application/pdf")})
        assert answer.status_code in (200, 201, 422), (name, answer.text)
        if answer.status_code != 422:
            assert answer.json()["sha256"] == sha256
            assert "/" not in answer.json()["name"] and "\\" not in answer.json()["name"], answer.json()
    assert not Path(f"/tmp/{marker}.pdf").exists()
    store = ROOT / AcceptanceSettings().file_store
    assert (store / sha256[:2] / sha256[2:4] / sha256).read_bytes() == pdf  # in its store, under its hash
    written = [found for place in (ROOT, ROOT / "var", platform.data_dir, Path("/tmp"))
               for found in place.glob(f"*{marker}*")]
    assert not written, written
    download = gateway.call("GET", f"/api/v1/applications/files/{sha256}/content", "county-clerk")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-disposition"].startswith("attachment")


def test_the_catalogue_import_takes_no_path_for_an_item_code(gateway: Gateway) -> None:
    item = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))[0] | {"item_code": "../../../../etc/passwd"}
    answer = gateway.call("POST", "/api/v1/catalogue/import", "catalogue-admin",
                          content=json.dumps({"format_version": 1, "items": [item]}),
                          headers={"Content-Type": _JSON})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    workbook = gateway.call("POST", "/api/v1/catalogue/import", "catalogue-admin",
                            content=b"PK\x03\x04../../../../etc/passwd" + b"\x00" * 64,
                            headers={"Content-Type": _XLSX})
    assert 400 <= workbook.status_code < 500, workbook.text
    check_answer(workbook, "POST import xlsx", "zip")


# ---- bodies too large: 413 --------------------------------------------------------------------------------

def raw_request(platform: Platform, head: bytes, chunks: Iterator[bytes] | tuple[bytes, ...] = ()
                ) -> tuple[int, bytes, bytes]:
    """Sends bytes as given and reads the answer, stopping the upload as soon as the gateway answers (it refuses
    an oversized body before reading it all, and a client still writing would only see the reset)."""
    import select

    with socket.create_connection(("127.0.0.1", platform.ports["gateway"]), timeout=30) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the answer is already waiting
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
    head_part, _, body = received.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), head_part, body


def chunked(payload_size: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    chunk = b"x" * chunk_size
    for _ in range(payload_size // chunk_size + 1):
        yield b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def _request_head(method: str, path: str, token: str, content_type: str, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gw", f"Authorization: Bearer {token}",
             f"Content-Type: {content_type}", "Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_bodies_over_the_gateway_limits_are_refused_with_413(platform: Platform, tokens: dict[str, str]) -> None:
    limits = GatewaySettings()
    json_limit, upload_limit = limits.max_body_bytes, limits.upload_max_body_bytes
    clerk, officer = tokens["county-clerk"], tokens["disclosure-officer"]
    json_path, upload_path = "/api/v1/information-requests", "/api/v1/applications/files"
    multipart = "multipart/form-data; boundary=zwfw"

    cases = {
        "JSON, declared": (_request_head("POST", json_path, officer, _JSON, f"Content-Length: {json_limit + 1}"),
                           (b"{" + b" " * json_limit + b"}",)),
        "JSON, chunked without Content-Length": (
            _request_head("POST", json_path, officer, _JSON, "Transfer-Encoding: chunked"), chunked(json_limit)),
        "JSON, declaring more than it sends": (
            _request_head("POST", json_path, officer, _JSON, "Content-Length: 10737418240"), (b"{}",)),
        "upload, declared": (
            _request_head("POST", upload_path, clerk, multipart, f"Content-Length: {upload_limit + 1}"),
            (b"x" * (upload_limit + 1),)),
        "upload, chunked without Content-Length": (
            _request_head("POST", upload_path, clerk, multipart, "Transfer-Encoding: chunked"),
            chunked(upload_limit)),
    }
    for label, (head, chunks) in cases.items():
        status, head_part, body = raw_request(platform, head, chunks)
        assert status == 413, (label, status, body[:300])
        assert b"application/problem+json" in head_part.lower(), (label, head_part)
        assert json.loads(body)["type"].endswith("/body-too-large"), (label, body[:300])

    # A Content-Length beside a chunked body is a request smuggling attempt: refused by the server itself.
    status, _, body = raw_request(platform, _request_head("POST", json_path, officer, _JSON, "Content-Length: 10",
                                                          "Transfer-Encoding: chunked"), chunked(json_limit))
    assert status in (400, 413), (status, body[:300])
    # A Content-Length smaller than the body: only the declared bytes are read, and they are no valid request.
    status, head_part, body = raw_request(
        platform, _request_head("POST", json_path, officer, _JSON, "Content-Length: 10"), (b"{" * json_limit,))
    assert 400 <= status < 500, (status, body[:300])
