"""Disclosure owns the catalogue, so the item version's own 办件结果公示 flag decides (real SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.contracts import Envelope
from services.common.contracts.case import CaseCompleted
from services.common.db import make_engine, make_session_factory, upgrade_database
from services.common.messaging import Outbox
from services.common.principal import Principal, PrincipalKind, Role
from services.disclosure import handlers
from services.disclosure.adapters.tables import messaging, public_result
from services.disclosure.domain.catalogue import ItemDefinition

ROOT = Path(__file__).resolve().parents[3]
DEMO = json.loads((ROOT / "services/disclosure/demo/catalogue.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("publish_results", [True, False])
def test_the_item_decides_whatever_the_event_claims(tmp_path: Path, publish_results: bool) -> None:
    url = f"sqlite:///{tmp_path}/disclosure.db"
    upgrade_database(url, ROOT / "services/disclosure/migrations")
    sessions = make_session_factory(make_engine(url))
    outbox = Outbox(messaging, source="/test", topic_prefix="")
    admin = Principal(kind=PrincipalKind.staff, subject="a", role=Role.catalogue_admin, region_code="320102000000")
    item = ItemDefinition.model_validate(DEMO[0] | {"publish_results": publish_results})
    with sessions.begin() as session:
        handlers.create_item(session, admin, item)
        handlers.publish_item(session, outbox, admin, item.item_code)

    completed = CaseCompleted(
        occurred_at=datetime.now(UTC), case_no="320102-20261125-00009", item_code=item.item_code, item_version=1,
        item_name=item.name, region_code="320102000000", result="approve",
        publish_result=not publish_results,  # a producer that got it wrong
    )
    with sessions.begin() as session:
        handlers.case_completed(session, Envelope.wrap(completed, source="/test"), completed)
    with sessions() as session:
        published = session.execute(select(public_result.c.case_no)).all()
    assert bool(published) is publish_results
