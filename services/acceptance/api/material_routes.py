"""Material files (申请材料): uploaded before or with an application, kept by content hash.

`POST /api/v1/applications/files` reads the multipart body as it arrives (python-multipart's streaming
parser, not Starlette's form parsing, which would spool the whole file first and know no size limit): the
`file` part goes straight into the store's temporary file. 201 when the content is new, 200 when the same
content was already stored (same body, same hash); either way this upload's name is recorded.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.acceptance.adapters.file_store import FileRefused, FileStore, PendingFile, safe_display_name
from services.acceptance.adapters.file_tables import material_file, material_file_name
from services.acceptance.config import AcceptanceSettings
from services.common.contracts.permissions import Action, requires
from services.common.principal import Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime

material_router = APIRouter(prefix="/api/v1/applications/files", tags=["acceptance 受理"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

FILE_FIELD = "file"
# Boundaries and part headers around the file: a body longer than the file limit plus this is refused unread.
FRAMING_ALLOWANCE = 65_536
SHA256 = r"^[0-9a-f]{64}$"


class MaterialFileOut(BaseModel):
    sha256: str = Field(description="Lower-case hex sha256 of the content: the file's identity")
    size: int = Field(description="Bytes")
    media_type: str = Field(description="Sniffed from the content: application/pdf, image/jpeg, image/png or "
                                        "application/ofd")
    name: str = Field(description="Safe display name this upload gave (paths and control characters removed)")


class MaterialFileInfo(MaterialFileOut):
    uploaded_at: datetime = Field(description="When the content was first stored")


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FILE_FIELD],
    "properties": {FILE_FIELD: {"type": "string", "format": "binary",
                                "description": "PDF, JPEG, PNG or OFD; at most ACCEPTANCE_FILE_MAX_BYTES"}},
}}}}}


def _file_store(runtime: Runtime) -> FileStore:
    store: FileStore | None = runtime.extras.get("file_store")
    if store is None:
        settings = AcceptanceSettings()
        store = FileStore(FsPath(settings.file_store), settings.file_max_bytes)
        runtime.extras["file_store"] = store
    return store


def _decode_name(raw: bytes) -> str:
    """Browsers send the file name as raw UTF-8; some older Chinese Windows clients send GBK."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


class _MultipartUpload:
    """Drives python-multipart's callbacks: the one `file` part is written to `pending` as it is parsed."""

    def __init__(self, boundary: bytes, pending: PendingFile) -> None:
        self._pending = pending
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._in_file = False
        self.ended = False
        self.name: str | None = None
        self.declared_type: str | None = None
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise FileRefused(422, "invalid-multipart", "multipart/form-data 请求体格式不正确") from exc

    def finish(self) -> None:
        self._parser.finalize()
        if not self.ended:
            raise FileRefused(422, "invalid-multipart", "请求体不完整：缺少 multipart 结束边界")
        if self.name is None:
            raise FileRefused(422, "file-missing", f"缺少文件字段 {FILE_FIELD}")

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[bytes(self._field).decode("latin-1").lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        field = options.get(b"name", b"").decode("latin-1")
        if field != FILE_FIELD:
            raise FileRefused(422, "unexpected-field", f"只接受文件字段 {FILE_FIELD}，不接受字段“{field}”")
        if self.name is not None:
            raise FileRefused(422, "unexpected-field", "一次只能上传一个文件")
        if b"filename" not in options:
            raise FileRefused(422, "file-name", f"字段 {FILE_FIELD} 应为文件，并带有文件名")
        name = safe_display_name(_decode_name(options[b"filename"]))
        if not name:
            raise FileRefused(422, "file-name", "文件名无效：去掉路径和控制字符后为空")
        self.name = name
        self.declared_type = self._headers.get("content-type", b"").decode("latin-1")
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.write(data[start:end])

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.ended = True


def _refused(exc: FileRefused) -> Problem:
    return Problem(exc.status, exc.slug, exc.detail)


@material_router.post(
    "", status_code=201, response_model=MaterialFileOut, summary="Upload a material file (上传申请材料)",
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"description": "The same content was already stored: same hash, this upload's name recorded",
              "model": MaterialFileOut},
        201: {"description": "Stored"},
        413: {"description": "Larger than ACCEPTANCE_FILE_MAX_BYTES"},
        415: {"description": "Not PDF, JPEG, PNG or OFD by content, or its declared type or extension disagree"},
        422: {"description": "No `file` field, another field, a bad name or a malformed body"},
    },
)
async def upload(request: Request, principal: Annotated[Principal, requires(Action.material_upload)],
                 runtime: RuntimeDep) -> JSONResponse:
    store = _file_store(runtime)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise Problem(415, "multipart-required", f"请以 multipart/form-data 上传，字段名为 {FILE_FIELD}")
    if not options.get(b"boundary"):
        raise Problem(422, "invalid-multipart", "multipart/form-data 缺少 boundary 参数")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > store.max_bytes + FRAMING_ALLOWANCE:
        raise Problem(413, "file-too-large", f"文件超过 {store.max_bytes} 字节的上限")

    with store.pending() as pending:  # the temporary file goes whatever happens below
        try:
            parsed = _MultipartUpload(options[b"boundary"], pending)
            async for chunk in request.stream():
                parsed.feed(chunk)
            parsed.finish()
            assert parsed.name is not None
            stored = await asyncio.to_thread(pending.complete, parsed.declared_type, parsed.name)
        except FileRefused as exc:
            raise _refused(exc) from exc
        name = parsed.name
        now = datetime.now(UTC)

        def record(session: Session) -> bool:
            insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
            created = session.execute(insert(material_file).values(
                sha256=stored.sha256, size=stored.size, media_type=stored.media_type, uploaded_at=now,
                uploaded_by=principal.subject,
            ).on_conflict_do_nothing(index_elements=["sha256"])).rowcount == 1
            session.execute(material_file_name.insert().values(
                sha256=stored.sha256, name=name, uploaded_at=now, uploaded_by=principal.subject,
                region_code=principal.region_code,
            ))
            # Published inside the transaction: its row lock (or SQLite's write lock) orders uploads of the
            # same content, and a failed commit takes back a file it alone published.
            pending.publish(stored.sha256)
            return created

        def unit_of_work() -> bool:
            try:
                with runtime.session_factory.begin() as session:
                    return record(session)
            except BaseException:
                pending.unpublish()
                raise

        created = await asyncio.to_thread(unit_of_work)

    out = MaterialFileOut(sha256=stored.sha256, size=stored.size, media_type=stored.media_type, name=name)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200,
                        headers={"Location": f"/api/v1/applications/files/{stored.sha256}"})


def _visible_file(session: Session, principal: Principal, sha256: str) -> dict[str, Any] | None:
    """The file with the latest name an upload in the caller's region scope gave it; None when no such upload."""
    row = session.execute(select(material_file).where(material_file.c.sha256 == sha256)).mappings().first()
    if row is None:
        return None
    name = session.execute(
        select(material_file_name.c.name)
        .where(material_file_name.c.sha256 == sha256,
               material_file_name.c.region_code.startswith(principal.region_scope()))
        .order_by(material_file_name.c.id.desc()).limit(1)
    ).scalar()
    return None if name is None else dict(row) | {"name": name}


async def _require_visible(runtime: Runtime, principal: Principal, sha256: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        with runtime.read_session() as session:
            return _visible_file(session, principal, sha256)

    found = await asyncio.to_thread(read)
    if found is None:
        # Also when it exists but only other regions uploaded it: its existence is not theirs to learn.
        raise Problem(404, "file-not-found", "材料文件不存在，或不在本区域范围内")
    return found


@material_router.get("/{sha256}", response_model=MaterialFileInfo, summary="A material file's metadata")
async def file_info(sha256: Annotated[str, Path(pattern=SHA256)],
                    principal: Annotated[Principal, requires(Action.material_read)],
                    runtime: RuntimeDep) -> MaterialFileInfo:
    found = await _require_visible(runtime, principal, sha256)
    return MaterialFileInfo(**{k: found[k] for k in ("sha256", "size", "media_type", "name", "uploaded_at")})


# A scan is evidence, shown as it was received: downloaded, never rendered by the browser as a page.
_DOWNLOAD_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@material_router.get(
    "/{sha256}/content", summary="A material file's content (下载申请材料), for review and archiving",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}, "application/ofd": {}},
                     "description": "The bytes as uploaded, with the type sniffed at upload"},
               404: {"description": "No such file uploaded within the caller's region"}},
)
async def file_content(sha256: Annotated[str, Path(pattern=SHA256)],
                       principal: Annotated[Principal, requires(Action.material_read)],
                       runtime: RuntimeDep) -> FileResponse:
    # The approver reviewing the case reads the scans the window received (审查 is of the materials).
    found = await _require_visible(runtime, principal, sha256)
    path = _file_store(runtime).path_for(sha256)
    if not path.is_file():
        raise Problem(404, "file-not-found", "材料文件不存在，或不在本区域范围内")
    # Starlette writes the name as RFC 6266 filename* when it is not ASCII (names are Chinese as a rule).
    return FileResponse(path, media_type=found["media_type"], filename=found["name"],
                        content_disposition_type="attachment", headers=_DOWNLOAD_HEADERS)
