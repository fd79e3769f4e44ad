"""Pieces the SDK providers share: message-part helpers and the translation of any
SDK/transport failure into a readable ``ProviderError``. The SDK clients themselves (on one
pooled HTTP client per event loop) come from ``kinds.model_clients``.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai

from chat.providers.base import Message, ModelConfig, ProviderError
from kinds.model_clients import aclose_http_client  # noqa: F401 - the runner closes the pool

try:  # The legacy ``httpx`` package may be loaded by other libraries; the SDKs accept both.
    import httpx as _legacy_httpx
except ImportError:  # pragma: no cover - httpx is installed alongside the SDKs
    _legacy_httpx = None

_BASE_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APITimeoutError,
    httpx2.TimeoutException,
    TimeoutError,
)
_BASE_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,
    httpx2.TransportError,
    ConnectionError,
)
if _legacy_httpx is not None:
    _BASE_TIMEOUT_ERRORS += (_legacy_httpx.TimeoutException,)
    _BASE_CONNECTION_ERRORS += (_legacy_httpx.TransportError,)


def _error_kinds() -> tuple[tuple[type[BaseException], ...], ...]:
    """(timeout, connection, SDK) error classes. The anthropic SDK (~40 MiB) is imported only
    when an Anthropic model is used; until then none of its errors can occur."""
    timeouts, connections, sdk = _BASE_TIMEOUT_ERRORS, _BASE_CONNECTION_ERRORS, (openai.APIError,)
    anthropic = sys.modules.get("anthropic")
    if anthropic is not None:
        timeouts += (anthropic.APITimeoutError,)
        connections += (anthropic.APIConnectionError,)
        sdk += (anthropic.APIError,)
    return timeouts, connections, sdk


_MAX_DETAIL_CHARS = 300


async def close_quietly(response: Any) -> None:
    """Close an SDK stream (releases its connection); a failure to close must not replace the
    ProviderError or cancellation already under way."""
    if response is None:
        return
    try:
        # An SDK stream or response object has ``close``; a raw HTTP response has ``aclose``.
        close = getattr(response, "aclose", None) or response.close
        await close()
    except Exception:  # noqa: BLE001 - the connection is gone either way
        pass


def require_model_id(config: ModelConfig) -> None:
    if not config.model_id:
        raise ProviderError(f"Model {config.model_name or '(unnamed)'} has no model_id configured")


# -- message parts -------------------------------------------------------------------------


def text_of(content: Any) -> str:
    """Plain text of a message content (str or list of parts); non-text parts are dropped."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        )
    return "" if content is None else str(content)


def is_empty(content: Any) -> bool:
    return not content or (isinstance(content, str) and not content.strip())


def image_url_of(part: dict[str, Any]) -> str | None:
    """The URL of an OpenAI-style ``image_url`` part (``{"url": ...}`` or a bare string)."""
    value = part.get("image_url")
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) and value else None


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media>;base64,<data>`` -> (media_type, data); None for anything else."""
    if not url.startswith("data:") or "," not in url:
        return None
    header, data = url[5:].split(",", 1)
    params = header.split(";")
    if "base64" not in params[1:]:
        return None
    return (params[0] or "application/octet-stream"), data


def split_system(messages: list[Message]) -> tuple[list[str], list[Message]]:
    """Texts of ``system`` role messages and the remaining conversation."""
    system_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "system"]
    return [t for t in system_texts if t], [m for m in messages if m.get("role") != "system"]


# -- errors --------------------------------------------------------------------------------


def display_url(url: str) -> str:
    """A base URL fit for a user-facing message: no userinfo, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the model endpoint"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or "the model endpoint"


def redact(text: str, secret: str) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"


def _body_message(body: Any) -> str:
    """The provider's own error text out of an error body (OpenAI, Anthropic or generic)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            for key in ("message", "type", "code"):
                if isinstance(error.get(key), str) and error[key]:
                    return error[key]
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
        return json.dumps(body)[:_MAX_DETAIL_CHARS]
    if isinstance(body, (str, bytes)):
        return body.decode(errors="replace") if isinstance(body, bytes) else body
    return ""


def _status_message(status: int, detail: str) -> str:
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return f"Authentication failed (401){suffix}"
    if status == 403:
        return f"Permission denied (403){suffix}"
    if status == 404:
        return f"Model or endpoint not found (404){suffix}"
    if status == 429:
        return f"Rate limited (429){suffix}"
    if status >= 500:
        return f"Provider returned HTTP {status}{suffix}"
    if status >= 400:
        return f"Provider rejected the request (HTTP {status}){suffix}"
    # A status below 400 means the HTTP call succeeded and the stream carried an error event.
    return f"Provider stream error{suffix}"


def _aiohttp_failure(exc: BaseException) -> BaseException | None:
    """The transport's own error behind an SDK error, as the exception class that tells what
    happened. The aiohttp transport maps every connection error to ``ConnectTimeout`` (a refused
    connection would read "timed out"), so the original in the cause chain decides."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (aiohttp.ServerTimeoutError, aiohttp.SocketTimeoutError)):
            return TimeoutError(str(current))
        if isinstance(current, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            return ConnectionError(str(current))
        current = current.__cause__ or current.__context__
    return None


def provider_error(exc: BaseException, config: ModelConfig, base_url: str, *, started: bool) -> ProviderError:
    """Translate an SDK or transport exception into a ProviderError a person can read.

    ``started``: the provider already answered the request (a dropped connection is then not a
    failure to connect). The API key never appears in the result, even when the provider
    echoes it back.
    """
    status = getattr(exc, "status_code", None)
    timeout_errors, connection_errors, sdk_errors = _error_kinds()
    transport = _aiohttp_failure(exc)
    if transport is not None and not isinstance(status, int):
        exc = transport
    if isinstance(exc, sdk_errors) and isinstance(status, int):
        detail = _body_message(exc.body) or exc.message
        text = _status_message(status, _shorten(detail))
    elif isinstance(exc, timeout_errors):
        text = f"Model request timed out after {config.timeout:g}s"
    elif isinstance(exc, connection_errors):
        where = display_url(base_url)
        text = f"Connection to {where} was lost mid-stream" if started else f"Could not connect to {where}"
    elif isinstance(exc, sdk_errors):
        # No HTTP status: an error object carried inside an otherwise successful stream.
        detail = _shorten(_body_message(exc.body) or exc.message)
        text = f"Provider stream error: {detail}" if detail else "Provider stream error"
    elif isinstance(exc, json.JSONDecodeError):
        text = f"Provider sent a malformed stream: {_shorten(str(exc))}"
    else:
        name = type(exc).__name__
        text = (
            f"Model call failed: {name}: {_shorten(str(exc))}" if str(exc) else f"Model call failed: {name}"
        )
    return ProviderError(redact(text, config.api_key))
