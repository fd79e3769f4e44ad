"""Web pages as knowledge documents (reference extras §4 "Web scraper"): a page fetched through
the outbound guard (so loopback, private, link-local and metadata addresses are refused unless
``WEGENT_OUTBOUND_ALLOWLIST`` names them), turned into Markdown-like text (headings, paragraphs,
list items; scripts and styles dropped), stored as ``name.md`` and indexed like any document.
A PDF is read with the attachment parser. Failures are ``{success: false, error_code,
error_message}`` with the reference's codes, never an exception."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.db import transaction

from accounts.models import User
from knowledge import embeddings, selectors
from knowledge.models import KnowledgeDocument
from knowledge.services import documents, indexing
from tasks.attachments import parser
from tasks.models import SubtaskContext
from tasks.services import attachments
from wegent.outbound import OutboundRefused, acheck_url

MAX_PAGE_BYTES = 5 * 1024 * 1024
FETCH_TIMEOUT = 20.0
_BLOCK = {"p", "div", "section", "article", "br", "tr", "table", "pre", "blockquote", "header", "footer"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}


class ScrapeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    description: str
    content: str
    scraped_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "content": self.content,
            "url": self.url,
            "scraped_at": self.scraped_at,
            "content_length": len(self.content),
            "description": self.description,
            "success": True,
            "error_code": None,
            "error_message": None,
        }


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.title = ""
        self.description = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta" and dict(attrs).get("name", "").lower() == "description":
            self.description = dict(attrs).get("content") or ""
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP and self.skip:
            self.skip -= 1
        elif re.fullmatch(r"h[1-6]", tag) or tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        joined = "".join(self.parts)
        lines = [line.strip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _check_format(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScrapeError("INVALID_URL_FORMAT", "The URL must be an http(s) address")


async def _fetch(url: str) -> tuple[bytes, str]:
    await acheck_url(url)
    client = embeddings.runner.client()
    body = bytearray()
    async with client.stream(
        "GET", url, timeout=FETCH_TIMEOUT, headers={"User-Agent": "Wegent/1.0"}
    ) as response:
        if response.status_code in (401, 403):
            raise ScrapeError("AUTH_REQUIRED", f"The page needs authentication (HTTP {response.status_code})")
        if response.status_code >= 400:
            raise ScrapeError("FETCH_FAILED", f"The page answered HTTP {response.status_code}")
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise ScrapeError("FETCH_FAILED", "The page is larger than 5 MB")
        return bytes(body), response.headers.get("content-type", "")


def scrape(url: str) -> Page:
    _check_format(url)
    try:
        body, content_type = embeddings.runner.run(_fetch(url))
    except ScrapeError:
        raise
    except OutboundRefused as exc:
        raise ScrapeError("SSRF_BLOCKED", str(exc.detail)) from None
    except httpx2.TimeoutException:
        raise ScrapeError("FETCH_TIMEOUT", "The page did not answer in time") from None
    except Exception as exc:  # noqa: BLE001 - any transport failure is a failed fetch
        raise ScrapeError(
            "FETCH_FAILED", f"The page cannot be fetched: {exc or type(exc).__name__}"
        ) from None
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if "pdf" in content_type or body[:5] == b"%PDF-":
        try:
            parsed = parser.parse_upload(
                "page.pdf", io.BytesIO(body), max_text_length=settings.KNOWLEDGE_MAX_DOCUMENT_CHARS
            )
        except parser.ParseFailure as exc:
            raise ScrapeError("PARSE_FAILED", exc.message) from None
        title = urlsplit(url).path.rsplit("/", 1)[-1] or url
        page = Page(url, title, "", parsed.text.strip(), now)
    else:
        reader = _Text()
        try:
            reader.feed(body.decode("utf-8", errors="replace"))
            reader.close()
        except Exception as exc:  # noqa: BLE001 - html.parser on hostile markup
            raise ScrapeError("PARSE_FAILED", f"The page cannot be read: {type(exc).__name__}") from None
        page = Page(url, reader.title.strip() or url, reader.description.strip(), reader.text(), now)
    if not page.content:
        raise ScrapeError("EMPTY_CONTENT", "The page has no text")
    return page


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w\- .]+", "_", name).strip(" ._")[:200] or "page"
    return cleaned if cleaned.lower().endswith(".md") else f"{cleaned}.md"


def create_document(*, actor: User, kb_id: int, url: str, name: str | None) -> KnowledgeDocument:
    """Raises ScrapeError for the page, domain errors for the knowledge base."""
    selectors.writable_kb(actor, kb_id)
    page = scrape(url)
    filename = _safe_name(name or page.title)
    data = page.content.encode()
    attachment = attachments.upload_attachment(
        actor=actor, filename=filename, file=io.BytesIO(data), size=len(data)
    )
    source = {
        "url": page.url,
        "scraped_at": page.scraped_at,
        "title": page.title,
        "description": page.description,
    }
    doc = documents.create(
        actor=actor,
        kb_id=kb_id,
        data=documents.DocumentInput(
            name=filename,
            attachment_id=attachment.pk,
            file_extension="md",
            file_size=len(data),
            source_type=KnowledgeDocument.WEB,
            source_config=source,
        ),
    )
    doc.refresh_from_db()
    return doc


def refresh_document(*, actor: User, doc_id: int) -> KnowledgeDocument:
    doc, kb = selectors.writable_document(actor, doc_id)
    url = (doc.source_config or {}).get("url") if doc.source_type == KnowledgeDocument.WEB else None
    if not isinstance(url, str):
        raise ScrapeError("INVALID_URL_FORMAT", "Only web documents can be refreshed")
    page = scrape(url)
    with transaction.atomic():
        context = SubtaskContext.objects.select_for_update().filter(pk=doc.attachment_id).first()
        if context is not None:
            data = context.type_data if isinstance(context.type_data, dict) else {}
            context.extracted_text, context.text_length = page.content, len(page.content)
            context.type_data = {**data, indexing.TEXT_EDITED: True}
            context.save(update_fields=["extracted_text", "text_length", "type_data", "updated_at"])
        doc = KnowledgeDocument.objects.select_for_update().get(pk=doc.pk)
        doc.source_config = {**(doc.source_config or {}), "scraped_at": page.scraped_at, "title": page.title}
        doc.file_size = len(page.content.encode())
        doc.save(update_fields=["source_config", "file_size", "updated_at"])
        indexing.request(doc, kb)
    doc.refresh_from_db()
    return doc
