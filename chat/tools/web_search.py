"""The ``web_search`` built-in: a search engine the operator names, asked over JSON-over-HTTP.

Off unless ``WEB_SEARCH_ENABLED`` is set and ``WEB_SEARCH_ENGINES`` names an engine, and then
offered only to a turn whose message asked for it (``enable_web_search`` on ``chat:send``), as
the reference does (realtime §3.9). The engines are a generic adapter, one JSON object each::

    {"searxng": {"base_url": "https://search.example/search", "display_name": "SearXNG",
                 "query_param": "q", "limit_param": "count", "params": {"format": "json"},
                 "api_key": "...", "api_key_header": "Authorization",
                 "results_path": "results", "title_field": "title", "url_field": "url",
                 "snippet_field": "content", "max_results": 10, "timeout": 15}}

Only ``base_url`` is required. The engine is asked with ``GET base_url?<query_param>=<query>``
through the outbound guard (wegent/outbound.py), so an engine on a private address must be
allow-listed by the operator like any other URL the server fetches for users.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx2
from django.conf import settings

from chat.tools.base import Problem, Toolbox, ToolError, ToolSpec, TurnContext
from chat.tools.sources import SOURCES
from wegent.outbound import OutboundRefused, acheck_url, guarded_http_client

logger = logging.getLogger(__name__)

WEB_SEARCH = "web_search"
# What one call gives back to the model: snippets are cut, the whole text is bounded.
SNIPPET_CHARS = 500
RESULT_CHARS = 20_000
DEFAULT_TIMEOUT_SECONDS = 15.0
# An engine's answer larger than this is not read (a search result page is far smaller).
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Engine:
    name: str
    display_name: str
    base_url: str
    query_param: str = "q"
    limit_param: str = ""
    params: dict[str, str] = field(default_factory=dict)
    # Secrets: sent to the engine, never shown (the search-engines route lists names only).
    api_key: str = field(default="", repr=False)
    api_key_header: str = "Authorization"
    results_path: str = "results"
    title_field: str = "title"
    url_field: str = "url"
    snippet_field: str = "content"
    max_results: int = 50
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def headers(self) -> dict[str, str]:
        if not self.api_key:
            return {}
        # ``Authorization`` carries a bearer token; any other header carries the key as is.
        if self.api_key_header.lower() == "authorization":
            return {"Authorization": f"Bearer {self.api_key}"}
        return {self.api_key_header: self.api_key}


def _str(config: dict[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _engine(name: str, config: Any) -> Engine:
    if not isinstance(config, dict):
        raise ValueError("must be a JSON object")
    base_url = _str(config, "base_url", "")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError("base_url must be an http(s) URL")
    params = config.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    default_max = settings.WEB_SEARCH_DEFAULT_MAX_RESULTS
    max_results = config.get("max_results", default_max)
    timeout = config.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise ValueError("max_results must be a positive integer")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError("timeout must be a positive number")
    return Engine(
        name=name,
        display_name=_str(config, "display_name", name),
        base_url=base_url,
        query_param=_str(config, "query_param", "q"),
        limit_param=_str(config, "limit_param", ""),
        params={str(k): str(v) for k, v in params.items()},
        api_key=_str(config, "api_key", ""),
        api_key_header=_str(config, "api_key_header", "Authorization"),
        results_path=_str(config, "results_path", "results"),
        title_field=_str(config, "title_field", "title"),
        url_field=_str(config, "url_field", "url"),
        snippet_field=_str(config, "snippet_field", "content"),
        max_results=max_results,
        timeout=float(timeout),
    )


def engines() -> list[Engine]:
    """The configured engines in the order written (the first is the default); none when web
    search is off. A malformed entry is logged and left out rather than failing every chat."""
    if not settings.WEB_SEARCH_ENABLED:
        return []
    raw = settings.WEB_SEARCH_ENGINES
    try:
        configured = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        logger.warning("WEB_SEARCH_ENGINES is not valid JSON; web search is off")
        return []
    if not isinstance(configured, dict):
        logger.warning("WEB_SEARCH_ENGINES must be a JSON object of engines; web search is off")
        return []
    found = []
    for name, config in configured.items():
        try:
            found.append(_engine(str(name), config))
        except ValueError as exc:
            logger.warning("WEB_SEARCH_ENGINES: engine %r left out: %s", name, exc)
    return found


def enabled() -> bool:
    return bool(engines())


def _at(data: Any, path: str) -> Any:
    """``data`` followed along a dotted path (``""`` is ``data`` itself); None when missing."""
    for key in path.split(".") if path else []:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def format_results(query: str, items: list[Any], engine: Engine, limit: int) -> str:
    lines = []
    for item in items:
        if len(lines) >= limit:
            break
        title = _text(_at(item, engine.title_field))
        url = _text(_at(item, engine.url_field))
        if not (title or url):
            continue
        snippet = _text(_at(item, engine.snippet_field))
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "…"
        lines.append(f"{len(lines) + 1}. {title or url}\n   {url}" + (f"\n   {snippet}" if snippet else ""))
    if not lines:
        return f"No results for {query!r}."
    text = f"Results for {query!r} ({engine.display_name}):\n" + "\n".join(lines)
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + "\n[results cut]"


@dataclass
class WebSearch:
    engine: Engine
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = ToolSpec(
            name=WEB_SEARCH,
            description=(
                "Search the web and get a list of results (title, URL, snippet). Use it for "
                "current events or facts you are unsure of; cite the URLs you use."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to search for."},
                    "max_results": {
                        "type": "integer",
                        "description": f"How many results (1 to {self.engine.max_results}).",
                    },
                },
                "required": ["query"],
            },
        )

    async def run(self, arguments: dict[str, Any]) -> str:
        engine = self.engine
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("query is required and must be a non-empty string")
        query = query.strip()[:1000]
        limit = arguments.get("max_results", min(engine.max_results, 10))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= engine.max_results:
            raise ToolError(f"max_results must be an integer from 1 to {engine.max_results}")
        params = {**engine.params, engine.query_param: query}
        if engine.limit_param:
            params[engine.limit_param] = str(limit)
        data = await self._fetch(params)
        items = _at(data, engine.results_path)
        if not isinstance(items, list):
            raise ToolError(f"The search engine {engine.display_name} answered without a result list")
        return format_results(query, items, engine, limit)

    async def _fetch(self, params: dict[str, str]) -> Any:
        engine = self.engine
        name = engine.display_name
        client = guarded_http_client(timeout=httpx2.Timeout(engine.timeout))
        try:
            await acheck_url(engine.base_url)  # the readable refusal; the client checks again
            request = client.stream("GET", engine.base_url, params=params, headers=engine.headers())
            async with request as response:
                if response.status_code >= 400:
                    raise ToolError(f"The search engine {name} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise ToolError(f"The search engine {name} answered too much")
        except OutboundRefused as exc:
            raise ToolError(f"Web search is not available: {exc.detail}") from None
        except httpx2.TimeoutException:
            raise ToolError(f"The search engine {name} did not answer in time") from None
        except httpx2.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ToolError(f"The search engine {name} cannot be reached: {reason}") from None
        finally:
            await client.aclose()
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise ToolError(f"The search engine {name} did not answer JSON") from None


async def web_search_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    if not ctx.web_search:
        return  # the message did not ask for web search
    configured = engines()
    if not configured:
        return  # off on this server: the route says so, the message's flag is ignored
    wanted = ctx.search_engine
    engine = next((e for e in configured if e.name == wanted), None) if wanted else configured[0]
    if engine is None:
        names = ", ".join(e.name for e in configured)
        toolbox.problems.append(
            Problem(WEB_SEARCH, f"Search engine {wanted!r} is not configured (available: {names})")
        )
        return
    toolbox.add(WebSearch(engine))


def register() -> None:
    if web_search_source not in SOURCES:
        SOURCES.append(web_search_source)
