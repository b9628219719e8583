"""Catalogue search and the region lists through real HTTP on a real database: items published and retired
through the API are found (or not) by jieba tokens in FTS5 (SQLite) or a tsvector (PostgreSQL).

`make test-postgres` runs this module with DISCLOSURE_DATABASE_URL pointing at a PostgreSQL server; each
test then gets a database of its own on that server instead of the SQLite file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.common.principal import PrincipalKind, Role
from services.common.problems import PROBLEM_JSON
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

# Read at import, before the service_env fixture points every service at a SQLite file.
POSTGRES_URL = os.environ.get("DISCLOSURE_DATABASE_URL", "")
POSTGRES_URL = POSTGRES_URL if POSTGRES_URL.startswith("postgresql") else ""

XUANWU = "320102000000"  # 玄武区
XUANWUMEN = "320102001000"  # 玄武门街道
BAIZITING = "320102001001"  # 百子亭社区
FUHOUGANG = "320102001002"  # 傅厚岗社区
QINHUAI = "320104000000"  # 秦淮区
ZHANYUAN = "320104001001"  # 瞻园社区 (秦淮区)

ADMIN = principal_headers(Role.catalogue_admin, XUANWU)
QINHUAI_ADMIN = principal_headers(Role.catalogue_admin, QINHUAI)
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
SEARCH = "/api/v1/catalogue/search"


@pytest.fixture
def database(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The disclosure database of one test: the SQLite file of service_env, or a fresh PostgreSQL database."""
    if not POSTGRES_URL:
        yield os.environ["DISCLOSURE_DATABASE_URL"]
        return
    name = f"search_{uuid.uuid4().hex[:10]}"
    server = sa.make_url(POSTGRES_URL)
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = server.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DISCLOSURE_DATABASE_URL", url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _item(code: str, name: str, region: str, department: str, item_type: str = "01", *,
          result: str = "", conditions: tuple[str, ...] = (), materials: tuple[str, ...] = ("申请书",),
          faq: tuple[tuple[str, str], ...] = (), online: bool = False, visits: int = 1) -> dict[str, Any]:
    return {
        "item_code": code, "name": name, "item_type": item_type, "department": department, "region_code": region,
        "case_type": "2", "legal_limit": {"value": 20, "unit": "working_days"},
        "promised_limit": {"value": 5, "unit": "working_days"},
        "materials": [{"code": f"M{i:02d}", "name": m, "originals": 1, "copies": 0}
                      for i, m in enumerate(materials, 1)],
        "elements": {"result_name": result, "conditions": list(conditions), "online": online, "visits": visits,
                     "faq": [{"question": q, "answer": a} for q, a in faq]},
    }


def _publish(client: TestClient, item: dict[str, Any], headers: dict[str, str] = ADMIN) -> None:
    created = client.post("/api/v1/catalogue/items", headers=headers, json=item)
    assert created.status_code == 201, created.text
    published = client.post(f"/api/v1/catalogue/items/{item['item_code']}/publish", headers=headers)
    assert published.status_code == 200, published.text


SELF_EMPLOYED = _item(
    "S-GT-01", "个体工商户设立登记", XUANWU, "玄武区市场监督管理局", result="营业执照",
    conditions=("有经营能力的自然人", "经营场所符合规定"), materials=("个体工商户设立登记申请书", "经营者身份证明"),
    faq=(("个体工商户营业执照多久能领取？", "材料齐全的，当场核发营业执照。"),), online=True, visits=0)
COMPANY = _item(
    "S-QY-01", "企业设立登记", XUANWU, "玄武区市场监督管理局", result="营业执照",
    conditions=("名称经自主申报",), materials=("公司登记（备案）申请书", "公司章程", "股东主体资格证明"),
    online=True, visits=1)
FOOD = _item(  # asks for a licence among its materials: found for 营业执照, but after the items that issue it
    "S-SP-01", "食品经营许可证核发", XUANWU, "玄武区市场监督管理局", result="食品经营许可证",
    materials=("食品经营许可申请书", "营业执照复印件"), visits=2)
MINIMUM = _item(
    "S-DB-01", "最低生活保障审核确认", XUANWU, "玄武区民政局", "07", result="最低生活保障金领取证",
    conditions=("持有本区常住户口的居民", "家庭人均收入低于当地最低生活保障标准"),
    materials=("户口簿", "居民身份证"), faq=(("低保金什么时候发放？", "每月10日前发放到户。"),))
ELDERLY = _item("S-YD-01", "老年人优待证办理", XUANWUMEN, "玄武门街道办事处", "20",
                conditions=("年满60周岁的本市户籍老年人",), materials=("居民身份证", "近期免冠照片"), visits=1)
BIRTH = _item("S-SY-01", "生育登记", BAIZITING, "玄武门街道卫生健康办公室（社区代办）", "20",
              materials=("夫妻双方居民身份证", "结婚证"), online=True, visits=0)
INSURANCE = _item("S-YB-01", "城乡居民基本医疗保险参保登记", FUHOUGANG, "玄武门街道社会保障服务所", "20",
                  materials=("居民身份证",), visits=1)
QINHUAI_SELF_EMPLOYED = _item("Q-GT-01", "个体工商户设立登记", QINHUAI, "秦淮区市场监督管理局",
                              result="营业执照", online=True, visits=0)
CHANGE = _item("S-GT-02", "个体工商户变更登记", XUANWU, "玄武区市场监督管理局", result="营业执照")


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    from services.disclosure.main import create_app

    with TestClient(create_app()) as c:
        for item in (SELF_EMPLOYED, COMPANY, FOOD, MINIMUM, ELDERLY, BIRTH, INSURANCE, CHANGE):
            _publish(c, item)
        _publish(c, QINHUAI_SELF_EMPLOYED, QINHUAI_ADMIN)
        # A new version of the company item replaces the first in the index; the change item is retired.
        _publish(c, COMPANY | {"name": "企业设立登记（一网通办）", "change_reason": "全程网办"})
        retired = c.post(f"/api/v1/catalogue/items/{CHANGE['item_code']}/retire", headers=ADMIN,
                         json={"reason": "并入个体工商户登记"})
        assert retired.status_code == 200, retired.text
        yield c


def _search(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get(SEARCH, headers=PUBLIC, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _codes(body: dict[str, Any]) -> list[str]:
    return [i["item_code"] for i in body["items"]]


def test_search_ranks_licence_items_first_and_follows_publish_and_retire(client: TestClient, database: str) -> None:
    dialect = sa.make_url(database).get_backend_name()
    assert dialect == ("postgresql" if POSTGRES_URL else "sqlite")

    body = _search(client, q="营业执照", region_code=BAIZITING)
    # The two items that issue a licence first, the item that merely asks for one after; 秦淮区's item is not
    # offered in a 玄武区 community, and the retired change item is gone.
    assert set(_codes(body)[:2]) == {"S-GT-01", "S-QY-01"}, body
    assert _codes(body)[2:] == ["S-SP-01"]
    assert body["total"] == 3 and body["relaxed"] is False
    ranks = [i["rank"] for i in body["items"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[1] > ranks[2]
    company = next(i for i in body["items"] if i["item_code"] == "S-QY-01")
    assert (company["version"], company["name"]) == (2, "企业设立登记（一网通办）")  # once, the new version
    assert company["snippet_field"] == "result" and company["snippet"] == "<em>营业执照</em>"
    food = body["items"][2]
    assert food["snippet_field"] == "materials" and "<em>营业执照</em>复印件" in food["snippet"]
    assert (food["region_name"], food["item_type_name"]) == ("玄武区", "行政许可")

    # The same words in another county find that county's item only.
    assert _codes(_search(client, q="营业执照", region_code=ZHANYUAN)) == ["Q-GT-01"]
    # A name match outweighs the FAQ: 个体工商户 is in one name here, in no other text.
    assert _codes(_search(client, q="个体工商户", region_code=XUANWU)) == ["S-GT-01"]

    # Filters: online, visits, department, item type.
    assert set(_codes(_search(client, q="营业执照", online="true", region_code=XUANWU))) == {"S-GT-01", "S-QY-01"}
    assert _codes(_search(client, q="营业执照", max_visits=0, region_code=XUANWU)) == ["S-GT-01"]
    assert _codes(_search(client, q="营业执照", online="false")) == ["S-SP-01"]
    assert _search(client, q="营业执照", department="玄武区民政局")["items"] == []
    # 低保 is the citizen's word for 最低生活保障: found through the synonym, and through its FAQ.
    low = _search(client, q="低保", item_type="07")
    assert _codes(low) == ["S-DB-01"]
    assert "<em>" in low["items"][0]["snippet"]
    # Conditions are searched: 60周岁 appears only in the township item's conditions.
    assert _codes(_search(client, q="60周岁", region_code=BAIZITING)) == ["S-YD-01"]
    # No item has both words: the answer falls back to any word and says so.
    relaxed = _search(client, q="营业执照 火星基地", region_code=XUANWU)
    assert relaxed["relaxed"] is True and set(_codes(relaxed)) == {"S-GT-01", "S-QY-01", "S-SP-01"}
    # Paging keeps the order and the total.
    second = _search(client, q="营业执照", region_code=BAIZITING, limit=1, offset=2)
    assert (_codes(second), second["total"]) == (["S-SP-01"], 3)
    past_the_end = _search(client, q="营业执照", region_code=BAIZITING, offset=5)
    assert (past_the_end["items"], past_the_end["total"], past_the_end["relaxed"]) == ([], 3, False)

    # Retiring takes an item out at once; publishing again puts it back.
    client.post("/api/v1/catalogue/items/S-SP-01/retire", headers=ADMIN, json={"reason": "test"}).raise_for_status()
    assert "S-SP-01" not in _codes(_search(client, q="营业执照"))
    _publish(client, FOOD | {"change_reason": "恢复"})
    assert "S-SP-01" in _codes(_search(client, q="营业执照"))


def test_region_tree_and_the_township_and_village_lists(client: TestClient) -> None:
    tree = client.get(f"/api/v1/regions/{XUANWUMEN}", headers=PUBLIC)
    assert tree.status_code == 200, tree.text
    body = tree.json()
    assert (body["region"]["name"], body["region"]["level"], body["region"]["parent_code"]) == (
        "玄武门街道", "township", XUANWU)
    assert [a["name"] for a in body["ancestors"]] == ["江苏省", "南京市", "玄武区"]
    assert {c["code"] for c in body["children"]} >= {BAIZITING, FUHOUGANG}
    assert all(c["level"] == "village" for c in body["children"])

    # 百子亭社区's list: its own item first, then its township's, then the county's; not 傅厚岗's item.
    village = client.get(f"/api/v1/regions/{BAIZITING}/items", headers=PUBLIC).json()
    codes = [i["item_code"] for i in village["items"]]
    assert codes[:2] == ["S-SY-01", "S-YD-01"]
    assert set(codes[2:]) == {"S-GT-01", "S-QY-01", "S-SP-01", "S-DB-01"}
    assert village["total"] == 6 and "S-YB-01" not in codes
    assert [a["code"] for a in village["ancestors"]] == ["320000000000", "320100000000", XUANWU, XUANWUMEN]
    # The township's list lacks its communities' own items.
    township = client.get(f"/api/v1/regions/{XUANWUMEN}/items", headers=PUBLIC).json()
    assert {i["item_code"] for i in township["items"]} == {"S-YD-01", "S-GT-01", "S-QY-01", "S-SP-01", "S-DB-01"}
    # The same filters as the search, and a query.
    public_services = client.get(f"/api/v1/regions/{BAIZITING}/items", headers=PUBLIC,
                                 params={"item_type": "20", "online": "true"}).json()
    assert [i["item_code"] for i in public_services["items"]] == ["S-SY-01"]
    found = client.get(f"/api/v1/regions/{FUHOUGANG}/items", headers=PUBLIC, params={"q": "居民身份证"}).json()
    assert {i["item_code"] for i in found["items"]} == {"S-YB-01", "S-YD-01", "S-DB-01"}
    paged = client.get(f"/api/v1/regions/{BAIZITING}/items", headers=PUBLIC, params={"limit": 2, "offset": 1}).json()
    assert ([i["item_code"] for i in paged["items"]], paged["total"]) == (codes[1:3], 6)
    beyond = client.get(f"/api/v1/regions/{BAIZITING}/items", headers=PUBLIC, params={"offset": 6}).json()
    assert (beyond["items"], beyond["total"]) == ([], 6)


BAD = [  # (path, params, status, problem slug, field named in `errors`)
    (SEARCH, {"q": "营业执照", "region_code": "3201"}, 422, "invalid-region-code", "region_code"),
    (SEARCH, {"q": "营业执照", "region_code": "320000001000"}, 422, "invalid-region-code", "region_code"),
    (SEARCH, {"q": "营业执照", "region_code": "320102099000"}, 404, "region-not-found", None),
    (SEARCH, {"q": "营业执照", "item_type": "99"}, 422, "invalid-item-type", "item_type"),
    (SEARCH, {"q": "的，"}, 422, "empty-query", "q"),
    (SEARCH, {"q": "_ __"}, 422, "empty-query", "q"),
    (SEARCH, {"q": "营业执照", "limit": 0}, 422, "validation-error", "query.limit"),
    (SEARCH, {"q": "营业执照", "online": "maybe"}, 422, "validation-error", "query.online"),
    (SEARCH, {}, 422, "validation-error", "query.q"),
    ("/api/v1/regions/32010200000X", {}, 422, "invalid-region-code", "code"),
    ("/api/v1/regions/320102099000", {}, 404, "region-not-found", None),
    ("/api/v1/regions/320102001001/items", {"max_visits": -1}, 422, "validation-error", "query.max_visits"),
]


def test_bad_parameters_answer_problem_json(database: str) -> None:
    from services.disclosure.main import create_app

    with TestClient(create_app()) as client:
        for path, params, status, slug, field in BAD:
            r = client.get(path, headers=PUBLIC, params=params)
            assert r.status_code == status, (path, params, r.text)
            assert r.headers["content-type"].startswith(PROBLEM_JSON)
            body = r.json()
            assert body["type"].endswith(f"/{slug}") and body["status"] == status and body["detail"], body
            if field is not None:
                assert field in [e["field"] for e in body["errors"]], body


def test_on_the_demo_catalogue_the_licence_items_come_before_those_asking_for_a_licence(database: str) -> None:
    """The real guides are long: items that only list 营业执照 among materials, conditions or FAQ mention it
    more often than the two items that issue one. Matches in the name or result still come first."""
    import json

    from services.disclosure.main import create_app

    demo = json.loads((Path(__file__).resolve().parents[3] / "services/disclosure/demo/catalogue.json")
                      .read_text(encoding="utf-8"))
    with TestClient(create_app()) as client:
        for item in demo:
            headers = principal_headers(Role.catalogue_admin, item["region_code"])
            _publish(client, item, headers)
        body = _search(client, q="营业执照", region_code=XUANWU)
    issuing = {i["item_code"] for i in demo
               if "营业执照" in i["name"] + i.get("elements", {}).get("result_name", "")}
    assert len(issuing) >= 2
    codes = _codes(body)
    assert set(codes[:len(issuing)]) == issuing, [i["name"] for i in body["items"]]
    assert len(codes) > len(issuing)  # the items that merely ask for a licence are found too, after them
