"""What an uploaded file is, and the text a model can read from it.

``parse_upload`` checks the bytes against the name's extension (magic bytes through
``filetype``; text by decoding it), extracts text with well-kept readers (pypdf, python-docx,
openpyxl, python-pptx, Pillow for image metadata, zipfile for archive listings) and cuts text
longer than the limit to its head and tail with a marker in between.

Everything here is pure: no database, no storage. Failures raise ``ParseFailure`` carrying the
reference's ``error_code``; the service turns it into a 400.

Text-like uploads (``.txt``, ``.md``, ``.csv``, ``.json``, code, unknown extensions) are judged by
their content, not by ``filetype``: its matchers need only a few ASCII bytes for some formats
("BM" is a BMP, "ID3" an MP3), so a text starting with "BMW" would be refused.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import unicodedata
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import filetype

# The reference's error codes (clients map them to messages).
UNSUPPORTED_TYPE = "unsupported_type"
UNRECOGNIZED_TYPE = "unrecognized_type"
FILE_TOO_LARGE = "file_too_large"
PARSE_FAILED = "parse_failed"
ENCRYPTED_PDF = "encrypted_pdf"
LEGACY_DOC = "legacy_doc"
LEGACY_PPT = "legacy_ppt"
LEGACY_XLS = "legacy_xls"

TRUNCATION_MESSAGE_KEY = "content_truncated"

PDF, DOCX, XLSX, PPTX, IMAGE, ZIP, TEXT = "pdf", "docx", "xlsx", "pptx", "image", "zip", "text"

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX_MIME = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# Extensions with a dedicated reader: extension -> (kind, MIME type).
KNOWN: dict[str, tuple[str, str]] = {
    ".pdf": (PDF, "application/pdf"),
    ".docx": (DOCX, DOCX_MIME),
    ".xlsx": (XLSX, XLSX_MIME),
    ".pptx": (PPTX, PPTX_MIME),
    ".jpg": (IMAGE, "image/jpeg"),
    ".jpeg": (IMAGE, "image/jpeg"),
    ".png": (IMAGE, "image/png"),
    ".gif": (IMAGE, "image/gif"),
    ".bmp": (IMAGE, "image/bmp"),
    ".webp": (IMAGE, "image/webp"),
    ".zip": (ZIP, "application/zip"),
    ".txt": (TEXT, "text/plain"),
    ".md": (TEXT, "text/markdown"),
    ".csv": (TEXT, "text/csv"),
    ".json": (TEXT, "application/json"),
}

LEGACY: dict[str, tuple[str, str]] = {
    ".doc": (LEGACY_DOC, "Legacy Word documents (.doc) are not supported; please save the file as .docx"),
    ".xls": (LEGACY_XLS, "Legacy Excel workbooks (.xls) are not supported; please save the file as .xlsx"),
    ".ppt": (LEGACY_PPT, "Legacy PowerPoint files (.ppt) are not supported; please save the file as .pptx"),
}

# Image types a vision model takes; what ``filetype`` reports maps to the MIME type we keep.
IMAGE_MIMES = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/apng": "image/png",
    "image/gif": "image/gif",
    "image/bmp": "image/bmp",
    "image/webp": "image/webp",
}

ZIP_MIMES = {"application/zip", DOCX_MIME, XLSX_MIME, PPTX_MIME, "application/epub+zip"}
# The part each Office Open XML format must contain.
OOXML_MAIN_PART = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml", PPTX: "ppt/presentation.xml"}

# Text-like application types kept as they are for unknown extensions; other guesses are text/plain.
TEXT_APPLICATION_MIMES = {
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/x-sh",
    "application/x-csh",
    "application/sql",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/x-tex",
    "application/x-latex",
    "application/x-python",
    "application/x-ruby",
    "application/x-perl",
    "application/x-httpd-php",
    "application/typescript",
    "application/x-typescript",
    "application/ld+json",
    "application/x-ndjson",
    "application/x-subrip",
}

SNIFF_BYTES = 64 * 1024
READ_CHUNK = 1024 * 1024
# A zipped Office file may expand far beyond its size; readers load parts into memory.
MAX_EXPANDED_PART = 256 * 1024 * 1024
MAX_EXPANDED_TOTAL = 1024 * 1024 * 1024
MAX_ZIP_LISTING = 1000
# Control characters that real text files carry (tab, newlines, form feed, backspace, escape).
_TEXT_CONTROLS = {"\t", "\n", "\r", "\x0b", "\x0c", "\x08", "\x1b"}


class ParseFailure(Exception):
    """The upload cannot be accepted; ``code`` is one of the reference's error codes."""

    def __init__(self, message: str, code: str = PARSE_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Truncation:
    original_length: int
    truncated_length: int

    def as_info(self) -> dict[str, Any]:
        return {
            "is_truncated": True,
            "original_length": self.original_length,
            "truncated_length": self.truncated_length,
            "truncation_message_key": TRUNCATION_MESSAGE_KEY,
        }


@dataclass(frozen=True)
class Parsed:
    kind: str
    extension: str
    mime_type: str
    text: str
    truncation: Truncation | None = None
    image: dict[str, Any] | None = field(default=None)

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE


def extension_of(filename: str) -> str:
    """The lower-case extension with its dot ("" when there is none)."""
    return os.path.splitext(filename)[1].lower()


def parse_upload(filename: str, file: IO[bytes], *, max_text_length: int) -> Parsed:
    """Identifies the file, checks its bytes fit its extension, and extracts its text."""
    extension = extension_of(filename)
    if extension in LEGACY:
        code, message = LEGACY[extension]
        raise ParseFailure(message, code)
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    kind, declared_mime = KNOWN.get(extension, (TEXT, ""))
    detected = filetype.guess(head)
    detected_mime = detected.mime if detected is not None else None
    collector = TextCollector(max_text_length)
    try:
        if kind == TEXT:
            mime = declared_mime or _text_mime(filename)
            _check_text(extension, head, detected_mime, known=extension in KNOWN)
            _read_text(file, head, collector)
            return _result(TEXT, extension, mime, collector)
        _check_magic(kind, extension, detected_mime)
        if kind == IMAGE:
            info = _image_info(file)
            return Parsed(
                kind=IMAGE,
                extension=extension,
                mime_type=IMAGE_MIMES[str(detected_mime)],
                text=_image_text(filename, info, _size_of(file)),
                image=info,
            )
        if kind == ZIP:
            _list_zip(file, collector)
        elif kind == PDF:
            _read_pdf(file, collector)
        else:
            _check_ooxml(kind, extension, file)
            {DOCX: _read_docx, XLSX: _read_xlsx, PPTX: _read_pptx}[kind](file, collector)
        return _result(kind, extension, declared_mime, collector)
    except ParseFailure:
        raise
    except Exception as exc:  # readers raise many types on malformed input (KeyError, lxml, zlib, ...)
        raise ParseFailure(
            f"Failed to parse {extension or 'the'} file: the content is damaged or unreadable"
        ) from exc


def _result(kind: str, extension: str, mime: str, collector: TextCollector) -> Parsed:
    text, truncation = collector.result()
    return Parsed(kind=kind, extension=extension, mime_type=mime, text=text, truncation=truncation)


def _size_of(file: IO[bytes]) -> int:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


# --- type checks ----------------------------------------------------------------------------------


def _mismatch(extension: str, detected_mime: str | None) -> ParseFailure:
    found = f" (it looks like {detected_mime})" if detected_mime else ""
    return ParseFailure(f"File content does not match its extension {extension}{found}", UNSUPPORTED_TYPE)


def _check_magic(kind: str, extension: str, detected_mime: str | None) -> None:
    if kind == PDF:
        ok = detected_mime == "application/pdf"
    elif kind == IMAGE:
        ok = detected_mime in IMAGE_MIMES
    else:  # zip and the Office Open XML formats are all zip archives
        ok = detected_mime in ZIP_MIMES
    if not ok:
        raise _mismatch(extension, detected_mime)


def _check_ooxml(kind: str, extension: str, file: IO[bytes]) -> None:
    """The archive must be the named Office format, and must not expand beyond what readers can hold."""
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise ParseFailure(f"Failed to parse {extension} file: it is not a valid archive") from exc
    with archive:
        names = set(archive.namelist())
        if OOXML_MAIN_PART[kind] not in names:
            others = [k for k, part in OOXML_MAIN_PART.items() if part in names]
            mime = KNOWN[f".{others[0]}"][1] if others else "application/zip"
            raise _mismatch(extension, mime)
        sizes = [info.file_size for info in archive.infolist()]
    if max(sizes, default=0) > MAX_EXPANDED_PART or sum(sizes) > MAX_EXPANDED_TOTAL:
        raise ParseFailure(f"Failed to parse {extension} file: its content expands beyond the size limit")
    file.seek(0)


def _check_text(extension: str, head: bytes, detected_mime: str | None, *, known: bool) -> None:
    if _looks_like_text(head):
        return
    if not known:
        label = extension or "(no extension)"
        found = f", detected {detected_mime}" if detected_mime else ""
        raise ParseFailure(f"Unrecognized file type: {label}{found}", UNRECOGNIZED_TYPE)
    raise _mismatch(extension, detected_mime or "binary data")


def _text_mime(filename: str) -> str:
    guessed = mimetypes.guess_type(filename, strict=False)[0]
    if guessed and (guessed.startswith("text/") or guessed in TEXT_APPLICATION_MIMES):
        return guessed
    return "text/plain"


# --- text -----------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _encoding_of(sample: bytes) -> str | None:
    """The sample's encoding: a BOM, else UTF-8 if it decodes, else charset-normalizer's best guess."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    if b"\x00" in sample:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return best.encoding if best is not None else None


def _looks_like_text(sample: bytes) -> bool:
    if not sample:
        return True
    encoding = _encoding_of(sample)
    if encoding is None:
        return False
    try:
        decoded = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except (UnicodeDecodeError, LookupError):
        return False
    if "\x00" in decoded:
        return False
    controls = sum(1 for ch in decoded if unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS)
    return controls <= len(decoded) * 0.01


def _read_text(file: IO[bytes], head: bytes, collector: TextCollector) -> None:
    encoding = _encoding_of(head) or "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    file.seek(0)
    while chunk := file.read(READ_CHUNK):
        collector.add(decoder.decode(chunk))
    collector.add(decoder.decode(b"", final=True))


# --- documents ------------------------------------------------------------------------------------


def _read_pdf(file: IO[bytes], collector: TextCollector) -> None:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

    file.seek(0)
    reader = PdfReader(file, strict=False)
    if reader.is_encrypted:
        # An owner password alone (empty user password) still lets anyone read the text.
        try:
            opened = reader.decrypt("")
        except (DependencyError, FileNotDecryptedError, WrongPasswordError, NotImplementedError):
            opened = 0
        if not opened:
            raise ParseFailure("The PDF is encrypted and cannot be read", ENCRYPTED_PDF)
    pages = reader.pages
    if len(pages) == 0:
        raise ParseFailure("Failed to parse .pdf file: it has no pages")
    for number, page in enumerate(pages, 1):
        if number > 1:
            collector.add("\n\n")
        collector.add(page.extract_text() or "")


def _read_docx(file: IO[bytes], collector: TextCollector) -> None:
    import docx
    from docx.table import Table

    document = docx.Document(file)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                collector.add(" | ".join(cell.text.strip() for cell in row.cells) + "\n")
        else:
            collector.add(block.text + "\n")


def _read_xlsx(file: IO[bytes], collector: TextCollector) -> None:
    import openpyxl

    workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    try:
        for number, sheet in enumerate(workbook.worksheets, 1):
            if number > 1:
                collector.add("\n")
            collector.add(f"## Sheet: {sheet.title}\n")
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if value is None else str(value) for value in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    collector.add("\t".join(cells) + "\n")
    finally:
        workbook.close()


def _read_pptx(file: IO[bytes], collector: TextCollector) -> None:
    from pptx import Presentation

    presentation = Presentation(file)
    for number, slide in enumerate(presentation.slides, 1):
        if number > 1:
            collector.add("\n")
        collector.add(f"## Slide {number}\n")
        for text in _shape_texts(slide.shapes):
            collector.add(text + "\n")


def _shape_texts(shapes: Any) -> Iterator[str]:
    for shape in shapes:
        if getattr(shape, "shapes", None) is not None:  # a group
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            if shape.text_frame.text.strip():
                yield shape.text_frame.text
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                yield " | ".join(cell.text.strip() for cell in row.cells)


# --- images and archives --------------------------------------------------------------------------


def _image_info(file: IO[bytes]) -> dict[str, Any]:
    from PIL import Image

    file.seek(0)
    with Image.open(file) as image:
        info = {"width": image.width, "height": image.height, "format": image.format, "mode": image.mode}
        image.verify()
    file.seek(0)
    return info


def _image_text(filename: str, info: dict[str, Any], size: int) -> str:
    return (
        f"[Image: {filename}]\n"
        f"Format: {info['format']}\nSize: {info['width']}x{info['height']} pixels\n"
        f"Color mode: {info['mode']}\nFile size: {size} bytes"
    )


def _list_zip(file: IO[bytes], collector: TextCollector) -> None:
    """Only the listing: the archive is kept for download, never extracted here."""
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise ParseFailure("Failed to parse .zip file: it is not a valid archive") from exc
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        collector.add(f"[ZIP archive: {len(entries)} files]\n")
        for info in entries[:MAX_ZIP_LISTING]:
            collector.add(f"- {_printable(info.filename)} ({info.file_size} bytes)\n")
        if len(entries) > MAX_ZIP_LISTING:
            collector.add(f"... and {len(entries) - MAX_ZIP_LISTING} more files\n")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# --- truncation -----------------------------------------------------------------------------------


def _marker(omitted: int) -> str:
    return f"\n\n... [{omitted} characters omitted: content truncated] ...\n\n"


class TextCollector:
    """Gathers extracted text in pieces, keeping at most what the limit needs.

    Text over the limit keeps its shape: about two thirds from the start and one third from
    the end, each cut at a line break when one is near, with a marker saying how much was left
    out. Memory stays bounded however long the document is.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.total = 0
        self._head: list[str] = []
        self._head_length = 0
        self._tail: deque[str] = deque()
        self._tail_length = 0
        room = max(0, self.limit - len(_marker(10**15)))
        self._head_budget = room * 2 // 3
        self._tail_budget = room - self._head_budget

    def add(self, piece: str) -> None:
        # PostgreSQL refuses NUL in text, and no reader of the text needs one.
        piece = piece.replace("\x00", "")
        if not piece:
            return
        self.total += len(piece)
        if self._head_length < self.limit:
            kept = piece[: self.limit - self._head_length]
            self._head.append(kept)
            self._head_length += len(kept)
        self._tail.append(piece)
        self._tail_length += len(piece)
        while self._tail and self._tail_length - len(self._tail[0]) >= self._tail_budget:
            self._tail_length -= len(self._tail.popleft())

    def result(self) -> tuple[str, Truncation | None]:
        head = "".join(self._head)
        if self.total <= self.limit:
            return head, None
        if self._head_budget == 0:  # a limit too small for a marker: a plain cut
            text = head[: self.limit]
            return text, Truncation(self.total, len(text))
        start = head[: self._head_budget]
        cut = start.rfind("\n")
        if cut > len(start) // 2:
            start = start[: cut + 1]
        tail = "".join(self._tail)
        end = tail[len(tail) - self._tail_budget :] if self._tail_budget else ""
        cut = end.find("\n")
        if 0 <= cut < len(end) // 2:
            end = end[cut + 1 :]
        text = start + _marker(self.total - len(start) - len(end)) + end
        return text, Truncation(self.total, len(text))
