"""The catalogue's search index: one row per published item in `search_entry`, its text already cut into
tokens (domain/search_text.py), and the database's own full-text index over those tokens:

- SQLite: an FTS5 table `search_fts` with `search_entry` as its external content, kept in step by
  triggers; ranked by bm25 with column weights (FTS5_WEIGHTS).
- PostgreSQL: a generated tsvector column `search_entry.document` ('simple' configuration, the name in
  class A …) with a GIN index; ranked by ts_rank.

The index is written in the same transaction as the publish or retire that changes it, so a search never
shows a retired version. Filters (region, department, type, online, visits) are ordinary columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Integer, String, Table, Text, bindparam, delete, insert, select, text
from sqlalchemy.orm import Session

from services.disclosure.adapters.tables import item_version, metadata
from services.disclosure.domain.catalogue import ItemDefinition, ItemVersion
from services.disclosure.domain.search_text import (
    FIELDS,
    FTS5_WEIGHTS,
    ParsedQuery,
    SearchDocument,
    document_for,
    fts5_match,
    snippet,
    tsquery_text,
    tsquery_title_text,
)

TOKEN_COLUMNS = tuple(f"{f}_tokens" for f in FIELDS)

search_entry = Table(
    "search_entry",
    metadata,
    # An integer key of its own: FTS5's external content is joined on it (a SQLite rowid that is not an
    # INTEGER PRIMARY KEY may be renumbered by VACUUM).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_code", String(64), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("item_type", String(2), nullable=False),
    Column("department", String(200), nullable=False, index=True),
    Column("region_code", String(12), nullable=False, index=True),
    Column("online", Boolean, nullable=False),  # elements.online 是否网办
    Column("visits", Integer, nullable=False),  # elements.visits 到现场次数
    *(Column(c, Text, nullable=False) for c in TOKEN_COLUMNS),
)

_FTS5_COLUMNS = ", ".join(TOKEN_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in TOKEN_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in TOKEN_COLUMNS)

# DDL per dialect, run by migration 0003 (and nowhere else).
SQLITE_DDL: tuple[str, ...] = (
    f"CREATE VIRTUAL TABLE search_fts USING fts5({_FTS5_COLUMNS}, content='search_entry', content_rowid='id', "
    "tokenize='unicode61')",
    f"CREATE TRIGGER search_entry_ai AFTER INSERT ON search_entry BEGIN "
    f"INSERT INTO search_fts(rowid, {_FTS5_COLUMNS}) VALUES (new.id, {_NEW}); END",
    f"CREATE TRIGGER search_entry_ad AFTER DELETE ON search_entry BEGIN "
    f"INSERT INTO search_fts(search_fts, rowid, {_FTS5_COLUMNS}) VALUES ('delete', old.id, {_OLD}); END",
    f"CREATE TRIGGER search_entry_au AFTER UPDATE ON search_entry BEGIN "
    f"INSERT INTO search_fts(search_fts, rowid, {_FTS5_COLUMNS}) VALUES ('delete', old.id, {_OLD}); "
    f"INSERT INTO search_fts(rowid, {_FTS5_COLUMNS}) VALUES (new.id, {_NEW}); END",
)
SQLITE_DROP: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS search_entry_au", "DROP TRIGGER IF EXISTS search_entry_ad",
    "DROP TRIGGER IF EXISTS search_entry_ai", "DROP TABLE IF EXISTS search_fts",
)
_CLASSES = {"name": "A", "result": "B", "conditions": "C", "materials": "C", "faq": "D"}
POSTGRES_DDL: tuple[str, ...] = (
    "ALTER TABLE search_entry ADD COLUMN document tsvector GENERATED ALWAYS AS ("
    + " || ".join(f"setweight(to_tsvector('simple'::regconfig, {f}_tokens), '{_CLASSES[f]}')" for f in FIELDS)
    + ") STORED",
    "CREATE INDEX ix_search_entry_document ON search_entry USING gin (document)",
)
# Added to the rank of an item whose name or result holds the query: above any text score of either database.
_TITLE_BONUS = 1000
# ts_rank's weights for classes {D, C, B, A}: faq, conditions and materials, result, name.
_PG_WEIGHTS = "'{0.1, 0.3, 0.6, 1.0}'::float4[]"


def entry_values(item_code: str, version: int, definition: ItemDefinition) -> dict[str, Any]:
    document = document_for(definition)
    return {
        "item_code": item_code, "version": version, "name": definition.name, "item_type": definition.item_type,
        "department": definition.department, "region_code": definition.region_code,
        "online": definition.elements.online, "visits": definition.elements.visits,
        **{f"{f}_tokens": document.tokens(f) for f in FIELDS},
    }


def index_version(session: Session, version: ItemVersion) -> None:
    """The published version replaces whatever the item had in the index."""
    session.execute(delete(search_entry).where(search_entry.c.item_code == version.item_code))
    session.execute(insert(search_entry).values(**entry_values(version.item_code, version.version,
                                                               version.definition)))


def remove_item(session: Session, item_code: str) -> None:
    """A retired item is no longer offered: out of the index."""
    session.execute(delete(search_entry).where(search_entry.c.item_code == item_code))


def rebuild_index(session: Session) -> int:
    """The whole index again from the published versions (after the tokeniser's dictionary changes)."""
    session.execute(delete(search_entry))
    rows = session.execute(select(item_version.c.item_code, item_version.c.version, item_version.c.definition)
                           .where(item_version.c.status == "published")).all()
    values = [entry_values(r.item_code, r.version, ItemDefinition.model_validate(r.definition)) for r in rows]
    for start in range(0, len(values), 500):
        session.execute(insert(search_entry), values[start:start + 500])
    return len(values)


# ---- queries ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    regions: Sequence[str] | None = None  # the lineage of a region: items of these codes are offered there
    department: str | None = None
    item_type: str | None = None
    online: bool | None = None
    max_visits: int | None = None


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict[str, Any]]


_SELECT = ("e.item_code, e.version, e.name, e.item_type, e.department, e.region_code, e.online, e.visits, "
           "count(*) OVER () AS total")


def _where(filters: Filters) -> tuple[list[str], dict[str, Any], list[Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    binds: list[Any] = []
    if filters.regions is not None:
        clauses.append("e.region_code IN :regions")
        params["regions"] = list(filters.regions)
        binds.append(bindparam("regions", expanding=True))
    if filters.department is not None:
        clauses.append("e.department = :department")
        params["department"] = filters.department
    if filters.item_type is not None:
        clauses.append("e.item_type = :item_type")
        params["item_type"] = filters.item_type
    if filters.online is not None:
        clauses.append("e.online = :online")
        params["online"] = filters.online
    if filters.max_visits is not None:
        clauses.append("e.visits <= :max_visits")
        params["max_visits"] = filters.max_visits
    return clauses, params, binds


def _run(session: Session, sql: str, count_sql: str, params: dict[str, Any], binds: list[Any]) -> Page:
    """One query answers the page and the total (a window count); a page past the end has no row to carry
    the total, so only then is it counted apart."""

    def stmt(sql_text: str) -> Any:
        return text(sql_text).bindparams(*binds) if binds else text(sql_text)

    rows = [dict(r._mapping) for r in session.execute(stmt(sql), params).all()]
    if not rows:
        total = int(session.execute(stmt(count_sql), params).scalar_one()) if params["offset"] else 0
        return Page(total, [])
    total = rows[0]["total"]
    for r in rows:
        r.pop("total")
    return Page(total, rows)


def search(session: Session, query: ParsedQuery, filters: Filters, limit: int, offset: int,
           strict: bool = True) -> Page:
    """Matching items, best first (`rank`: higher is better, comparable within one answer only)."""
    clauses, params, binds = _where(filters)
    params |= {"limit": limit, "offset": offset}
    if session.get_bind().dialect.name == "postgresql":
        params["q"] = tsquery_text(query, strict)
        params["qt"] = tsquery_title_text(query, strict)
        where = " AND ".join(["e.document @@ q", *clauses])
        sql = (f"SELECT {_SELECT}, ts_rank({_PG_WEIGHTS}, e.document, q) "
               f"+ CASE WHEN e.document @@ qt THEN {_TITLE_BONUS} ELSE 0 END AS rank "
               f"FROM search_entry e, to_tsquery('simple', :q) q, to_tsquery('simple', :qt) qt WHERE {where} "
               "ORDER BY rank DESC, e.item_code LIMIT :limit OFFSET :offset")
        count_sql = f"SELECT count(*) FROM search_entry e, to_tsquery('simple', :q) q WHERE {where}"
    else:
        params["q"] = fts5_match(query, strict)
        # The same expression held to the name and result columns (see tsquery_title_text for why).
        params["qt"] = f"{{name_tokens result_tokens}} : ({params['q']})"
        weights = ", ".join(str(w) for w in FTS5_WEIGHTS)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        # bm25 may not share a SELECT with the window function (the total), so the matches are ranked
        # first. bm25 is lower for better matches: negated so that both databases answer "higher is better".
        # Matches in the name or result come first (fts5_title_match), then bm25 orders within each tier.
        sql = (f"WITH hits AS MATERIALIZED (SELECT rowid AS id, -bm25(search_fts, {weights}) AS score "
               "FROM search_fts WHERE search_fts MATCH :q), "
               "titled AS MATERIALIZED (SELECT rowid AS id FROM search_fts WHERE search_fts MATCH :qt) "
               f"SELECT {_SELECT}, h.score + CASE WHEN h.id IN (SELECT id FROM titled) THEN {_TITLE_BONUS} "
               f"ELSE 0 END AS rank FROM hits h JOIN search_entry e ON e.id = h.id {where} "
               "ORDER BY rank DESC, e.item_code LIMIT :limit OFFSET :offset")
        count_sql = (f"SELECT count(*) FROM search_fts JOIN search_entry e ON e.id = search_fts.rowid "
                     f"WHERE {' AND '.join(['search_fts MATCH :q', *clauses])}")
    return _run(session, sql, count_sql, params, binds)


def browse(session: Session, filters: Filters, limit: int, offset: int) -> Page:
    """Items without a query: the deepest region's own items first (村 before 乡镇 before 县 …), then by code."""
    clauses, params, binds = _where(filters)
    params |= {"limit": limit, "offset": offset}
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (f"SELECT {_SELECT} FROM search_entry e {where} "
           "ORDER BY e.region_code DESC, e.item_code LIMIT :limit OFFSET :offset")
    return _run(session, sql, f"SELECT count(*) FROM search_entry e {where}", params, binds)


def documents(session: Session, rows: list[dict[str, Any]]) -> dict[str, SearchDocument]:
    """The indexed texts of a page of results, for their snippets, from the versions themselves."""
    if not rows:
        return {}
    wanted = {(r["item_code"], r["version"]) for r in rows}
    found = session.execute(select(item_version.c.item_code, item_version.c.version, item_version.c.definition)
                            .where(item_version.c.item_code.in_([code for code, _ in wanted]))).all()
    return {r.item_code: document_for(r.definition) for r in found if (r.item_code, r.version) in wanted}


def with_snippets(session: Session, query: ParsedQuery, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = documents(session, rows)
    out = []
    for r in rows:
        doc = docs.get(r["item_code"])
        s = snippet(doc, query) if doc is not None else None
        out.append(r | {"snippet": s.html if s else "", "snippet_field": s.field if s else "name"})
    return out
