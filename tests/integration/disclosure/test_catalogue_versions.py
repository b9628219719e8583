"""Catalogue versions over real HTTP and SQLite: the guide's elements are validated and returned, each version
records who wrote it and why, and a version's diff against the one before it is computed on request."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic
from services.common.contracts.catalogue import ItemVersionPublished
from services.common.principal import PrincipalKind, Role
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[3]
DEMO = json.loads((ROOT / "services/disclosure/demo/catalogue.json").read_text(encoding="utf-8"))
ADMIN = principal_headers(Role.catalogue_admin, "320102000000", subject="u-wang", name="王科长")
OTHER_ADMIN = principal_headers(Role.catalogue_admin, "320104000000", subject="u-qin", name="秦淮区管理员")
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
ITEMS = "/api/v1/catalogue/items"


def _item(code: str) -> dict[str, Any]:
    """The demo's first item (full elements) under a fresh code, so each run has its own history."""
    item = copy.deepcopy(DEMO[0])
    item["item_code"] = code
    return item


async def _published_events(bootstrap: str, topic: str, item_code: str, wanted: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        end = asyncio.get_running_loop().time() + 20
        while len(found) < wanted and asyncio.get_running_loop().time() < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
                    if envelope.subject == item_code and envelope.type == ItemVersionPublished.event_type:
                        found.append(envelope.data)
    finally:
        await consumer.stop()
    return found


def test_elements_change_reasons_and_diffs(service_env: Path) -> None:
    from services.disclosure.main import create_app

    code = f"320102000000-01-{uuid.uuid4().hex[:6]}"
    with TestClient(create_app()) as client:
        # ---- elements are validated: every problem at once, named in Chinese -----------------------------
        bad = _item(code) | {"fee_charged": False}
        bad["elements"] = bad["elements"] | {
            "fee": {"basis": "某文件", "standard": "每件10元"}, "level": "9", "handling_forms": ["window", "fax"],
            "visits": 0, "online": False}
        refused = client.post(ITEMS, headers=ADMIN, json=bad)
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["type"].endswith("/invalid-item")
        assert [e["field"] for e in body["errors"]] == [
            "elements.fee", "elements.level", "elements.handling_forms", "elements.visits"]
        assert all(("（" in e["message"]) for e in body["errors"])  # each names its field in Chinese
        assert "收费依据与标准" in body["detail"] and "零跑腿" in body["detail"]

        unit = client.post(ITEMS, headers=ADMIN, json=_item(code) | {"legal_limit": {"value": 15, "unit": "days"}})
        assert unit.status_code == 422
        [error] = unit.json()["errors"]
        assert error["field"] == "legal_limit.unit"
        assert "working_days（工作日）" in error["message"] and "calendar_days（自然日）" in error["message"]

        unknown = client.post(ITEMS, headers=ADMIN, json=_item(code) | {"elements": {"colour": "red"}})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "elements.colour"

        # ---- version 1: no reason needed; who wrote it is recorded; elements come back -----------------------
        created = client.post(ITEMS, headers=ADMIN, json=_item(code))
        assert created.status_code == 201, created.text
        first = created.json()
        assert first["changed_by"] == {"subject": "u-wang", "name": "王科长"} and first["change_reason"] == ""
        assert first["elements"]["legal_basis"] == DEMO[0]["elements"]["legal_basis"]
        assert first["elements"]["handling_forms"] == DEMO[0]["elements"]["handling_forms"]
        client.post(f"{ITEMS}/{code}/publish", headers=ADMIN).raise_for_status()

        public_v1 = client.get(f"{ITEMS}/{code}/versions/1", headers=PUBLIC).json()
        # The public sees the name of who changed its catalogue, not the account behind it.
        assert public_v1["changed_by"] == {"subject": "", "name": "王科长"}
        assert public_v1["elements"]["conditions"] == DEMO[0]["elements"]["conditions"]
        assert client.get(f"{ITEMS}/{code}/versions/1/diff", headers=ADMIN).status_code == 404  # nothing before

        # ---- version 2: 动态调整 must say why ---------------------------------------------------------------
        changed = _item(code)
        changed["promised_limit"] = {"value": 2, "unit": "working_days", "note": "压缩至2个工作日"}
        changed["process"][1]["limit"] = {"value": 1, "unit": "working_days"}
        changed["materials"] = [m for m in changed["materials"] if m["code"] != "M04"] + [
            {"code": "M05", "name": "住所（经营场所）申报承诺书", "required": False, "originals": 1, "copies": 0,
             "issuer": "申请人", "note": "实行住所申报承诺制的提供"}]
        changed["elements"] = changed["elements"] | {"visits": 0, "delivery": True}  # 执照寄递，零跑腿
        no_reason = client.post(ITEMS, headers=ADMIN, json=changed)
        assert no_reason.status_code == 422, no_reason.text
        assert [e["field"] for e in no_reason.json()["errors"]] == ["change_reason"]
        assert "变更原因" in no_reason.json()["detail"]

        editor = principal_headers(Role.catalogue_admin, "320102000000", subject="u-li", name="李四")
        second = client.post(ITEMS, headers=editor, json=changed | {"change_reason": "落实“一网通办”，压缩承诺时限"})
        assert second.status_code == 201, second.text
        assert second.json()["changed_by"] == {"subject": "u-li", "name": "李四"}
        assert second.json()["change_reason"] == "落实“一网通办”，压缩承诺时限"

        # ---- the diff of a draft: only the region's catalogue administrators ---------------------------------
        assert client.get(f"{ITEMS}/{code}/versions/2/diff", headers=PUBLIC).status_code == 404
        assert client.get(f"{ITEMS}/{code}/versions/2/diff", headers=OTHER_ADMIN).status_code == 404
        diff = client.get(f"{ITEMS}/{code}/versions/2/diff", headers=ADMIN)
        assert diff.status_code == 200, diff.text
        d = diff.json()
        assert d["item_code"] == code
        assert (d["before"]["version"], d["before"]["status"], d["after"]["version"], d["after"]["status"]) == (
            1, "published", 2, "draft")
        assert d["before"]["changed_by"] == {"subject": "u-wang", "name": "王科长"}
        assert d["after"]["change_reason"] == "落实“一网通办”，压缩承诺时限"
        assert d["before"]["published_at"] and d["after"]["published_at"] is None
        changes = {c["field"]: c for c in d["changes"]}
        assert list(changes) == ["promised_limit", "materials.M04", "materials.M05", "process.decide.limit",
                                 "elements.delivery", "elements.visits"]
        assert changes["promised_limit"]["label"] == "承诺时限"
        assert changes["promised_limit"]["before"]["value"] == 3 and changes["promised_limit"]["after"]["value"] == 2
        assert (changes["materials.M04"]["kind"], changes["materials.M05"]["kind"]) == ("removed", "added")
        assert changes["process.decide.limit"]["label"].endswith("· 环节时限")
        assert (changes["elements.visits"]["before"], changes["elements.visits"]["after"]) == (1, 0)

        # ---- published, the diff is public record (without the accounts) ------------------------------------
        client.post(f"{ITEMS}/{code}/publish", headers=ADMIN).raise_for_status()
        public_diff = client.get(f"{ITEMS}/{code}/versions/2/diff", headers=PUBLIC)
        assert public_diff.status_code == 200
        assert public_diff.json()["changes"] == d["changes"]
        assert public_diff.json()["before"]["status"] == "retired"
        assert public_diff.json()["after"]["changed_by"] == {"subject": "", "name": "李四"}
        assert client.get(f"{ITEMS}/{code}/versions/3/diff", headers=PUBLIC).status_code == 404
        assert client.get(f"{ITEMS}/unknown-code/versions/2/diff", headers=PUBLIC).status_code == 404

        # ---- the published events carry the elements, for acceptance and the public guide --------------------
        events = asyncio.run(_published_events(
            os.environ["KAFKA_BOOTSTRAP_SERVERS"], Topic.catalogue.name_with(os.environ["ZWFW_TOPIC_PREFIX"]),
            code, wanted=2))
        published = [ItemVersionPublished.model_validate(e) for e in events]
        assert [p.version for p in published] == [1, 2]
        assert published[0].elements.visits == 1 and published[1].elements.visits == 0
        assert published[1].elements.legal_basis[0].document == DEMO[0]["elements"]["legal_basis"][0]["document"]


def test_the_demo_catalogue_loads_as_the_launcher_loads_it(service_env: Path) -> None:
    """tools/platform.py POSTs and publishes every demo item as the county's catalogue administrator."""
    from services.disclosure.main import create_app

    launcher = principal_headers(Role.catalogue_admin, "320102000000", subject="catalogue-admin", name="目录管理员")
    with TestClient(create_app()) as client:
        for raw in DEMO:
            created = client.post(ITEMS, headers=launcher, json=raw)
            assert created.status_code == 201, created.text
            client.post(f"{ITEMS}/{raw['item_code']}/publish", headers=launcher).raise_for_status()
        for raw in DEMO:
            shown = client.get(f"{ITEMS}/{raw['item_code']}", headers=PUBLIC).json()
            expected = ItemVersionPublished.model_validate(
                raw | {"occurred_at": "2026-11-25T00:00:00Z", "version": 1}).elements.model_dump(mode="json")
            assert shown["elements"] == expected, raw["name"]
        # A community sees its own items and those of its township and county.
        village = client.get(ITEMS, headers=PUBLIC, params={"region_code": "320102001001"}).json()["items"]
        assert {i["region_code"] for i in village} == {"320102000000", "320102001000", "320102001001"}
        assert len(village) == sum(1 for i in DEMO if i["region_code"] != "320102001002")
