"""Tables of material files: one row per stored content, one per upload naming it.

On the service's metadata (adapters/tables.py), created by migration 0002. The content row is written once,
by the first upload; every upload adds its own name, uploader and region, because the same scan may be
called "身份证.pdf" at one window and "张三证件.pdf" at another, and who may see it follows those regions.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from services.acceptance.adapters.tables import metadata
from services.common.db import UtcDateTime

material_file = Table(
    "material_file",
    metadata,
    Column("sha256", String(64), primary_key=True),  # lower-case hex; also the file's name on disk
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(40), nullable=False),  # sniffed from the content, never the client's claim
    Column("uploaded_at", UtcDateTime(), nullable=False),  # first upload
    Column("uploaded_by", String(64), nullable=False),  # principal subject of the first upload
)

material_file_name = Table(
    "material_file_name",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), ForeignKey("material_file.sha256"), nullable=False, index=True),
    Column("name", String(255), nullable=False),  # safe display name (file_store.safe_display_name)
    Column("uploaded_at", UtcDateTime(), nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("region_code", String(12), nullable=False),  # the uploader's region: staff see files of their scope
)
