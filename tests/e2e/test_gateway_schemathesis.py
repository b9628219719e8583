"""Schemathesis against the gateway's aggregated OpenAPI document on the running platform.

Every operation in `/openapi.json` is called with generated requests, valid and invalid (schemathesis'
`all` mode), signed in as an account whose role may perform it; no answer may be a 5xx, and every 4xx must be
RFC 9457 problem+json, as the document's description promises. Generation is seeded so a failure reproduces.

The calls go through the gateway only, as a county system or a clerk's browser would make them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import limits
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from services.acceptance.config import AcceptanceSettings
from tests.e2e.conftest import Gateway
from tools.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

# Small on purpose: 75 operations, two cores, a couple of minutes for the whole file. The seed makes every
# run generate the same requests, so CI failures reproduce locally.
EXAMPLES_PER_OPERATION = 10
SEED = 20261125

# The demo account whose role the operations under a path prefix need (first match wins). A wrong choice here
# shows as an operation that answered only 401/403, which the test refuses.
ACCOUNTS: tuple[tuple[str | None, str, str], ...] = (
    ("PUT", "/api/v1/monitoring/calendar/years/", "operations"),  # only operations load holiday schedules
    (None, "/api/v1/monitoring/", "supervisor"),
    # 行政许可法 Art. 42: only the agency's head extends a time limit. The approver was refused (403) every time; a
    # generated case number with a line feed in it used to be answered 404 by the router and hid that.
    ("POST", "/api/v1/approval/cases/{case_no}/extend", "department-head"),
    (None, "/api/v1/approval/", "approver"),
    (None, "/api/v1/applications", "county-clerk"),
    (None, "/api/v1/catalogue/", "catalogue-admin"),
    (None, "/api/v1/regions/", "catalogue-admin"),
    (None, "/api/v1/results", "supervisor"),
    (None, "/api/v1/information", "disclosure-officer"),  # the directory and 依申请公开 requests
    # The gateway's own: login and token take credentials in the body (generated ones are refused, 4xx), logout
    # ends the clerk's refresh family but not the access token the other operations use.
    (None, "/api/v1/auth/", "county-clerk"),
    (None, "/api/v1/audit/", "operations"),
    (None, "/oauth/", "county-clerk"),
    (None, "/.well-known/", "county-clerk"),
)

# Generated and shrunk; no replay of a local example database, so every run sends the same requests.
_PHASES = (Phase.explicit, Phase.generate, Phase.shrink)

# The live alert stream never ends by itself: its answer is read for this long, then closed.
STREAM_SECONDS = 1.0

PROGRESS_PATH = "/api/v1/applications/progress"
_last_progress_call = [0.0]


def note_call(path: str) -> None:
    if path == PROGRESS_PATH:
        _last_progress_call[0] = time.monotonic()


@pytest.fixture(scope="module", autouse=True)
def progress_budget_restored() -> Iterator[None]:
    """Leaves the public progress query's per-address budget as the module found it.

    Every test reaches the gateway from 127.0.0.1, and acceptance counts progress queries per address in a moving
    window: the ones sent here would otherwise be spent on behalf of the next test that counts its own.
    """
    yield
    window = limits.parse(AcceptanceSettings().progress_limit_per_address).get_expiry()
    remaining = _last_progress_call[0] + window + 1 - time.monotonic()
    if _last_progress_call[0] and remaining > 0:
        time.sleep(remaining)


def account_for(method: str, path: str) -> str:
    for only_method, prefix, account in ACCOUNTS:
        if (only_method is None or only_method == method.upper()) and path.startswith(prefix):
            return account
    raise AssertionError(f"no account chosen for {method.upper()} {path}: add its prefix to ACCOUNTS")


@pytest.fixture(scope="module")
def gateway_schema(platform: Platform) -> BaseSchema:
    config = SchemathesisConfig.from_dict({"seed": SEED, "request-timeout": 30})
    schema = schemathesis.openapi.from_url(platform.url() + "/openapi.json", config=config)
    schema.config.base_url = platform.url()
    return schema


# Not `schemathesis.pytest.from_fixture(...).parametrize()`: schemathesis 4.32.5 renames the running pytest
# item through `Function._nodeid`, which pytest 9.2 no longer has (AttributeError before any request is made).
# The same strategies, driven by Hypothesis here, one subtest per operation.
def test_no_operation_answers_a_server_error(gateway_schema: BaseSchema, gateway: Gateway, tokens: dict[str, str],
                                             subtests: pytest.Subtests) -> None:
    answers: dict[str, set[int]] = {}  # operation label ("GET /api/v1/…") → the statuses it answered
    for result in gateway_schema.get_all_operations():
        operation = result.ok()
        headers = {"Authorization": f"Bearer {tokens[account_for(operation.method, operation.path)]}"}
        timeout = STREAM_SECONDS if operation.path.endswith("/stream") else 30
        # An operation that takes nothing (the JWKS) has no invalid request to generate.
        takes_input = bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,)
        for mode in modes:
            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                run_operation(operation, mode, headers, timeout, answers.setdefault(operation.label, set()))

    # Every operation of the document as the gateway serves it now, read apart from schemathesis' own parsing.
    document = gateway.client.get("/openapi.json").json()
    assert "x-unavailable-services" not in document["info"], document["info"]
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item if method in {"get", "put", "post", "delete", "patch"}}
    assert len(operations) > 50, sorted(operations)  # the four services' documents really were merged
    assert set(answers) == operations, sorted(operations ^ set(answers))
    # Each operation was reached with a role allowed to perform it at least once: one that answered nothing but
    # 401/403 was never tested behind the door (see ACCOUNTS).
    locked_out = {label: sorted(statuses) for label, statuses in answers.items() if statuses <= {401, 403}}
    assert not locked_out, locked_out
    unanswered = sorted(label for label, statuses in answers.items() if not statuses)
    assert not unanswered, unanswered


def run_operation(operation: APIOperation, mode: GenerationMode, headers: dict[str, str], timeout: float,
                  statuses: set[int]) -> None:
    @seed(SEED)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, phases=_PHASES,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        note_call(operation.path)
        response = case.call(headers=headers, timeout=timeout)
        statuses.add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
        assert response.status_code < 500, (response.status_code, response.text[:500])
        if 400 <= response.status_code < 500:
            content_type = response.headers.get("content-type", [""])
            # The OAuth2 token endpoint answers in RFC 6749 §5.2's shape (application/json with `error`), which
            # OAuth2 clients read; its body carries the problem members too (gateway/identity/routes.py).
            expected = "application/json" if operation.path == "/oauth/token" else "application/problem+json"
            assert any(v.startswith(expected) for v in content_type), (
                response.status_code, content_type, response.text[:300])
            if operation.path == "/oauth/token":
                assert {"error", "type", "status"} <= set(response.json()), response.text[:300]

    call()
