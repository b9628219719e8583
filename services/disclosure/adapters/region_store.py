"""The `region` table (行政区划): the codes the catalogue is offered in, with names and parents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, String, Table, select
from sqlalchemy.orm import Session

from services.disclosure.adapters.tables import metadata
from services.disclosure.domain.regions import LEVEL_NAMES, Region, RegionLevel, level_of, parent_of

DEMO_REGIONS = Path(__file__).resolve().parent.parent / "demo" / "regions.json"

# Declared beside the service's other tables (same metadata) but in its own module; created by 0003.
region = Table(
    "region",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("level", Integer, nullable=False),  # RegionLevel: 1 province … 5 village
    Column("parent_code", String(12), index=True),  # None for a province
)


def load_region_file(path: Path = DEMO_REGIONS) -> list[Region]:
    """A region list of {code, name}; level and parent follow from the code, so the file cannot contradict it."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [Region(r["code"], r["name"], level_of(r["code"]), parent_of(r["code"])) for r in rows]


def region_rows(regions: list[Region]) -> list[dict[str, Any]]:
    return [{"code": r.code, "name": r.name, "level": int(r.level), "parent_code": r.parent_code} for r in regions]


def region_out(row: Any) -> dict[str, Any]:
    level = RegionLevel(row.level)
    return {"code": row.code, "name": row.name, "level": level.name, "level_name": LEVEL_NAMES[level],
            "parent_code": row.parent_code}


def get_region(session: Session, code: str) -> Any:
    return session.execute(select(region).where(region.c.code == code)).first()


def get_regions(session: Session, codes: list[str]) -> dict[str, Any]:
    if not codes:
        return {}
    return {r.code: r for r in session.execute(select(region).where(region.c.code.in_(codes))).all()}


def children(session: Session, code: str) -> list[Any]:
    return list(session.execute(select(region).where(region.c.parent_code == code).order_by(region.c.code)).all())
