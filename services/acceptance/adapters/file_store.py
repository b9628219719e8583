"""Material files (申请材料) on disk, addressed by the sha256 of their content.

A file is streamed into a temporary file beside the store (never held whole in memory), hashed and counted as
it comes, refused as soon as it passes the size limit, then sniffed: its type is what its first bytes say,
never what its name or the client's declared type say. Only a complete, accepted file is published, under
`<root>/<aa>/<bb>/<sha256>`, by an atomic hard link: a reader never sees half a file, and two uploads of the
same content store it once. Anything refused or interrupted leaves no file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
OFD = "application/ofd"  # GB/T 33190 版式文档
MEDIA_TYPES = (PDF, JPEG, PNG, OFD)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_HEAD_BYTES = 8  # enough for every signature above

# An OFD package is a ZIP whose root holds OFD.xml. The archive is only inspected, never extracted; these
# bounds keep a hostile archive (a zip bomb, a million entries) from costing more than a small read.
OFD_MAX_ENTRIES = 10_000
OFD_XML_MAX_BYTES = 1_048_576
_OFD_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?OFD[\s/>]")

# What a client may declare for each sniffed type. Declaring nothing or a generic binary type contradicts
# nothing; declaring anything else does (a disguised file). OFD is a ZIP, so a ZIP declaration fits it.
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
_DECLARED: dict[str, set[str]] = {
    PDF: {PDF, "application/x-pdf", "application/acrobat"},
    JPEG: {JPEG, "image/jpg", "image/pjpeg"},
    PNG: {PNG, "image/x-png"},
    OFD: {OFD, "application/x-ofd", "application/zip", "application/x-zip-compressed"},
}
_EXTENSIONS: dict[str, set[str]] = {
    PDF: {"pdf"},
    JPEG: {"jpg", "jpeg", "jpe", "jfif"},
    PNG: {"png"},
    OFD: {"ofd"},
}
# An extension is a short ASCII word with a letter: "v1.2" or "张三.身份证" have none, so nothing to contradict.
_EXTENSION = re.compile(r"[a-z0-9]{0,7}[a-z][a-z0-9]{0,7}")

MAX_NAME_CHARS = 120
# Windows refuses these in names; "/" and "\\" are path separators everywhere a name may travel to.
_RESERVED_CHARS = set('<>:"/\\|?*')
# Unicode categories dropped from names: controls (NUL…), format characters (bidi overrides that make
# "fdp.exe" read "exe.pdf", zero-width joiners), surrogates, private use, line and paragraph separators.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                    *(f"LPT{i}" for i in range(1, 10))}
_STALE_TEMPORARY_SECONDS = 24 * 3600


class FileRefused(Exception):
    """An upload the store will not keep: `status` and `slug` for the HTTP problem, `detail` in Chinese."""

    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str


def sniff(head: bytes) -> str | None:
    """The media type the first bytes announce; a ZIP is only a candidate OFD until `is_ofd` looks inside."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(_PNG_SIGNATURE):
        return PNG
    if head.startswith(_ZIP_LOCAL_HEADER):
        return OFD
    return None


def is_ofd(path: Path) -> bool:
    """True when the ZIP at `path` holds OFD.xml at its root whose root element is OFD, read within bounds."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > OFD_MAX_ENTRIES:
                return False
            entry = next((e for e in entries if e.filename == "OFD.xml"), None)
            if entry is None or entry.is_dir() or entry.file_size > OFD_XML_MAX_BYTES:
                return False
            with archive.open(entry) as member:
                # Bounded even if the header lies about the size: never inflate more than the limit.
                content = member.read(OFD_XML_MAX_BYTES + 1)
            return len(content) <= OFD_XML_MAX_BYTES and _OFD_ROOT.search(content[:4096]) is not None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError):
        # RuntimeError: encrypted entries; NotImplementedError: compression methods zipfile lacks.
        return False


def normalise_declared_type(content_type: str | None) -> str:
    """`Image/JPEG; charset=x` → `image/jpeg`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def extension_of(name: str) -> str | None:
    stem, dot, extension = name.rpartition(".")
    extension = extension.lower()
    return extension if dot and stem and _EXTENSION.fullmatch(extension) else None


def contradiction(media_type: str, declared_type: str | None, name: str) -> str | None:
    """Why the declared type or the name's extension disagrees with the sniffed type (中文), or None."""
    declared = normalise_declared_type(declared_type)
    if declared not in _GENERIC_TYPES and declared not in _DECLARED[media_type]:
        return f"文件内容为 {media_type}，与声明的类型 {declared} 不符"
    extension = extension_of(name)
    if extension is not None and extension not in _EXTENSIONS[media_type]:
        return f"文件内容为 {media_type}，与文件扩展名 .{extension} 不符"
    return None


def safe_display_name(raw: str) -> str:
    """A name safe to show and to offer back as a download name; "" when nothing usable is left.

    Only the last path component is kept (either separator: "../../etc/passwd" → "passwd", "C:\\x\\y.pdf" →
    "y.pdf"); control, format and reserved characters are dropped; Chinese and other letters are kept.
    The name is never used as a path: files are stored by hash."""
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category in _DROPPED_CATEGORIES or char in _RESERVED_CHARS:
            continue
        kept.append(" " if category == "Zs" else char)
    # Leading dots hide files and "."/".." are directories; trailing dots and spaces Windows drops itself.
    name = re.sub(r" {2,}", " ", "".join(kept)).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    if stem.upper() in _WINDOWS_DEVICES or name.upper() in _WINDOWS_DEVICES:
        name = "_" + name
    if len(name) > MAX_NAME_CHARS:
        # Cut the stem, keep a real extension: "很长的名字….pdf" still says what it is.
        suffix = f".{extension}" if dot and extension_of(name) else ""
        name = name[:MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix
    return name


class PendingFile:
    """One upload on its way in: written to a temporary file, then either published or discarded."""

    def __init__(self, store: FileStore, path: Path) -> None:
        self._store = store
        self._path = path
        self._file = path.open("xb")
        self._hash = hashlib.sha256()
        self._head = b""
        self.size = 0
        self._published: Path | None = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._store.max_bytes:
            raise FileRefused(413, "file-too-large",
                              f"文件超过 {self._store.max_bytes} 字节的上限")
        if len(self._head) < _HEAD_BYTES:
            self._head += chunk[:_HEAD_BYTES - len(self._head)]
        self._hash.update(chunk)
        self._file.write(chunk)

    def complete(self, declared_type: str | None, name: str) -> StoredFile:
        """Closes the temporary file and decides what it is; FileRefused when it is not a file we keep."""
        self._file.flush()
        os.fsync(self._file.fileno())  # on disk before it is published: a crash never leaves a torn file
        self._file.close()
        if self.size == 0:
            raise FileRefused(422, "empty-file", "上传的文件是空的")
        media_type = sniff(self._head)
        if media_type == OFD and not is_ofd(self._path):
            media_type = None
        if media_type is None:
            raise FileRefused(415, "unsupported-file-type", "只接受 PDF、JPEG、PNG 或 OFD 文件（按文件内容判断）")
        problem = contradiction(media_type, declared_type, name)
        if problem:
            raise FileRefused(415, "disguised-file", problem)
        return StoredFile(self._hash.hexdigest(), self.size, media_type)

    def publish(self, sha256: str) -> bool:
        """Puts the file in place under its hash; True when this call created it, False when it was there."""
        target = self._store.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A hard link is atomic and, unlike rename, refuses to replace: of two uploads of the same content
            # exactly one learns it created the file, so only that one may take it back.
            os.link(self._path, target)
        except FileExistsError:
            return False
        self._published = target
        return True

    def unpublish(self) -> None:
        """Takes back a file this upload published, when the row recording it could not be written."""
        if self._published is not None:
            with contextlib.suppress(FileNotFoundError):
                self._published.unlink()
            self._published = None

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


class FileStore:
    """The directory of material files; `max_bytes` bounds each file."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._temporary = root / "tmp"
        self._temporary.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_temporaries()

    def path_for(self, sha256: str) -> Path:
        # Two levels of 256 directories each: no directory grows past a few thousand files.
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextlib.contextmanager
    def pending(self) -> Iterator[PendingFile]:
        """A new upload; its temporary file is removed on the way out, whatever happened."""
        upload = PendingFile(self, self._temporary / f"{uuid.uuid4().hex}.part")
        try:
            yield upload
        finally:
            upload.discard()

    def _sweep_stale_temporaries(self) -> None:
        """Temporary files a killed process left behind (a normal exit removes its own)."""
        cutoff = time.time() - _STALE_TEMPORARY_SECONDS
        for leftover in self._temporary.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
