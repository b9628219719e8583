"""The gateway's operation table against the services themselves: every operation each service serves is in
the table, with the action the service checks on its own (defence in depth means the same rule twice).

The gateway package must not import the services; this test may.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from gateway.authorization import OPERATIONS, PUBLIC, TABLE
from gateway.routes import match
from services.common.contracts.permissions import Action, action_of

SERVICES = ("acceptance", "approval", "disclosure", "monitoring")


@cache
def app_of(service: str) -> FastAPI:
    app: FastAPI = importlib.import_module(f"services.{service}.main").create_app()
    return app


def served_operations() -> Iterator[tuple[str, str, str]]:
    """(service, method, path template) of every operation the gateway forwards (its routes are /api/…)."""
    for service in SERVICES:
        for path, item in app_of(service).openapi()["paths"].items():
            if match(path) is None:
                continue  # /healthz, /readyz: the gateway does not route them
            for method in item:
                yield service, method.upper(), path


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """FastAPI 0.16x keeps an included router as one entry (`_IncludedRouter`) holding the router itself."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def checked_actions(dependant: Dependant) -> set[Action]:
    found = set()
    for sub in dependant.dependencies:
        action = action_of(sub.call) if sub.call is not None else None
        if action is not None:
            found.add(action)
        found |= checked_actions(sub)
    return found


def test_the_table_covers_every_operation_of_every_service_and_nothing_else() -> None:
    served = {(method, path) for _, method, path in served_operations()}
    assert len(served) > 70
    assert served - set(OPERATIONS) == set(), "operations the gateway would refuse (404)"
    assert set(OPERATIONS) - served == set(), "operations no service serves"


def test_each_operation_routes_to_the_service_that_serves_it() -> None:
    for service, method, path in served_operations():
        route = match(path)
        assert route is not None and route.backend == service, (method, path)
        op = TABLE.match(method, path)
        assert op is not None and op.template == path, (method, path)


def test_every_action_is_performed_somewhere_except_the_gateways_own() -> None:
    used = {action for action in OPERATIONS.values() if isinstance(action, Action)}
    assert set(Action) - used == {Action.audit_read, Action.audit_verify}  # the gateway's audit endpoints


def test_public_operations_are_open_at_the_door() -> None:
    """The proxy answers 401 before authorization for a method its route does not open to the public."""
    for (method, path), action in OPERATIONS.items():
        route = match(path)
        assert route is not None
        if action == PUBLIC:
            assert method in route.public_methods, (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_checks_the_same_action_as_the_gateway(service: str) -> None:
    checked = set()
    for route in api_routes(app_of(service).routes):
        if match(route.path) is None:
            continue
        actions = checked_actions(route.dependant)
        for method in route.methods:
            expected = OPERATIONS[(method, route.path)]
            if expected == PUBLIC:
                # Public routes decide inside (drafts, withdrawn documents, an officer's withdrawal), never by
                # a dependency that would refuse the public.
                assert actions == set(), (method, route.path, actions)
            else:
                assert actions == {expected}, (method, route.path, actions)
                checked.add((method, route.path))
    protected = {op for op in OPERATIONS if OPERATIONS[op] != PUBLIC and match(op[1]).backend == service}
    assert checked == protected
