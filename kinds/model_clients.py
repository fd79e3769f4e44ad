"""The official SDK clients (``openai``, ``anthropic``) for a ``ModelConnection``.

Import this module only when a model is called: the SDKs are large (the anthropic one alone
is ~40 MiB and is imported on first use). Two kinds of client:

- streaming calls (chat): async clients sharing one pooled aiohttp transport per event loop.
  Building an SDK client creates a fresh connection pool and TLS context (~20 ms) and would
  redo the TLS handshake on every message; the clients are cheap once they borrow the pool, so
  callers build one per call and only close each call's response.
- one-off checks (test-connection, listing a provider's models, from synchronous views): a
  synchronous client of their own, closed after the check, that follows no redirect and reads
  at most ``MAX_CHECK_RESPONSE_BYTES`` of a reply (the URL is the caller's choice).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from kinds.connections import ModelConnection

if TYPE_CHECKING:
    import anthropic

# Placeholder credential for key-less OpenAI-compatible endpoints (local vLLM, Ollama, proxies).
# Passing it explicitly also stops the SDKs from falling back to the operator's env keys.
KEYLESS_PLACEHOLDER = "dummy"
CHECK_CONNECT_TIMEOUT_SECONDS = 5.0
MAX_CHECK_RESPONSE_BYTES = 4 * 1024 * 1024

_POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()


def api_key_of(connection: ModelConnection) -> str:
    return connection.api_key or KEYLESS_PLACEHOLDER


def anthropic_base_url(url: str) -> str:
    # The SDK appends /v1/messages itself; people often paste the URL with /v1 already on it.
    return url.rstrip("/").removesuffix("/v1")


# --- streaming calls ---------------------------------------------------------------------------


def http_client() -> httpx2.AsyncClient:
    """The pooled HTTP client of the running event loop (connections cannot cross loops)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:
        client = _clients.get(loop)
        if client is None or client.is_closed:
            client = openai.DefaultAioHttpClient(limits=_POOL_LIMITS, follow_redirects=True)
            _clients[loop] = client
        return client


async def aclose_http_client() -> None:
    """Close the running loop's pooled client (server shutdown, end of a test's event loop)."""
    with _clients_lock:
        client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _client_options(
    connection: ModelConnection, base_url: str, timeout: Any, transport: Any
) -> dict[str, Any]:
    """What every SDK client here is built with. Retries are the caller's decision."""
    return {
        "api_key": api_key_of(connection),
        "base_url": base_url,
        "timeout": timeout,
        "max_retries": 0,
        "default_headers": dict(connection.default_headers) or None,
        "http_client": transport,
    }


def _pooled_client_options(connection: ModelConnection, base_url: str) -> dict[str, Any]:
    # The pool is shared, so the client itself owns nothing.
    return _client_options(connection, base_url, connection.timeout, http_client())


def openai_client(connection: ModelConnection, base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(**_pooled_client_options(connection, base_url))


def anthropic_client(connection: ModelConnection, base_url: str) -> anthropic.AsyncAnthropic:
    import anthropic

    return anthropic.AsyncAnthropic(**_pooled_client_options(connection, base_url))


# --- one-off checks ----------------------------------------------------------------------------


class ResponseTooLarge(Exception):
    """A provider's reply to a check was longer than ``MAX_CHECK_RESPONSE_BYTES``."""


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, stream: httpx2.SyncByteStream) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._stream:
            size += len(chunk)
            if size > MAX_CHECK_RESPONSE_BYTES:
                raise ResponseTooLarge
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _CappedTransport(httpx2.HTTPTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        response.stream = _CappedStream(response.stream)  # type: ignore[arg-type]
        return response


def _check_timeout(connection: ModelConnection) -> httpx2.Timeout:
    return httpx2.Timeout(connection.timeout, connect=CHECK_CONNECT_TIMEOUT_SECONDS)


def _check_http_client(connection: ModelConnection) -> httpx2.Client:
    return openai.DefaultHttpxClient(
        transport=_CappedTransport(), follow_redirects=False, timeout=_check_timeout(connection)
    )


def _checking_client_options(connection: ModelConnection, base_url: str) -> dict[str, Any]:
    return _client_options(connection, base_url, _check_timeout(connection), _check_http_client(connection))


def checking_openai_client(connection: ModelConnection, base_url: str) -> openai.OpenAI:
    """A client of its own for one check; use it in a ``with`` block."""
    return openai.OpenAI(**_checking_client_options(connection, base_url))


def checking_anthropic_client(connection: ModelConnection, base_url: str) -> anthropic.Anthropic:
    """A client of its own for one check; use it in a ``with`` block."""
    import anthropic

    return anthropic.Anthropic(**_checking_client_options(connection, base_url))
