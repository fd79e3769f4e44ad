"""The ``web_search`` built-in against a real loopback search engine: the adapter's request and
result mapping, its failures as tool errors, the outbound guard, when the tool is offered, and
``GET /api/chat/search-engines``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chat.tests.fake_search import FakeSearchEngine, engine_config
from chat.tools import web_search
from chat.tools.base import Toolbox, ToolError, TurnContext
from wegent.tests.helpers import free_port


@pytest.fixture
def engine() -> Iterator[FakeSearchEngine]:
    with FakeSearchEngine() as server:
        yield server


def configure(settings: Any, engines: dict[str, Any], allow: list[str] | None = None) -> None:
    settings.WEB_SEARCH_ENABLED = True
    settings.WEB_SEARCH_ENGINES = json.dumps(engines)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"] if allow is None else allow


def tool_for(name: str = "fake") -> web_search.WebSearch:
    engine = next(e for e in web_search.engines() if e.name == name)
    return web_search.WebSearch(engine)


def search(arguments: dict[str, Any], name: str = "fake") -> str:
    return asyncio.run(tool_for(name).run(arguments))


def tool_error(arguments: dict[str, Any], name: str = "fake") -> str:
    with pytest.raises(ToolError) as caught:
        search(arguments, name)
    return caught.value.message


def toolbox_for(**context: Any) -> Toolbox:
    toolbox = Toolbox()
    ctx = TurnContext(user_id=1, user_name="alice", task_id=1, subtask_id=2, **context)
    asyncio.run(web_search.web_search_source(ctx, None, toolbox))
    return toolbox


def test_off_by_default(settings: Any) -> None:
    assert settings.WEB_SEARCH_ENABLED is False
    assert web_search.engines() == []
    assert toolbox_for(web_search=True).tools == {}


def test_a_search_asks_the_engine_and_lists_results(settings: Any, engine: FakeSearchEngine) -> None:
    config = engine_config(engine.base, params={"format": "json"}, limit_param="count", api_key="sk-secret")
    configure(settings, {"fake": config})
    text = search({"query": "  django channels ", "max_results": 2})
    assert text == (
        "Results for 'django channels' (Fake Search):\n"
        "1. Result 1 about django channels\n   https://example.org/1\n   Snippet 1\n"
        "2. Result 2 about django channels\n   https://example.org/2\n   Snippet 2"
    )
    seen = engine.requests[-1]
    assert seen.path == "/search"
    assert seen.params == {"q": "django channels", "format": "json", "count": "2"}
    assert seen.headers["authorization"] == "Bearer sk-secret"


def test_a_custom_key_header_and_query_param(settings: Any, engine: FakeSearchEngine) -> None:
    config = engine_config(engine.base, query_param="query", api_key="k1", api_key_header="X-Api-Key")
    configure(settings, {"fake": config})
    # The fake engine echoes ``q`` only: sent as ``query``, its titles name no query.
    assert "1. Result 1 about\n" in search({"query": "x"})
    seen = engine.requests[-1]
    assert seen.params == {"query": "x"} and seen.headers["x-api-key"] == "k1"
    assert "authorization" not in seen.headers


def test_bad_arguments_are_tool_errors(settings: Any, engine: FakeSearchEngine) -> None:
    configure(settings, {"fake": engine_config(engine.base, max_results=5)})
    assert "query is required" in tool_error({})
    assert "query is required" in tool_error({"query": "   "})
    assert "from 1 to 5" in tool_error({"query": "x", "max_results": 6})
    assert "from 1 to 5" in tool_error({"query": "x", "max_results": True})
    assert engine.requests == []


def test_engine_failures_are_tool_errors_the_model_reads(settings: Any, engine: FakeSearchEngine) -> None:
    down = f"http://127.0.0.1:{free_port()}/search"
    configure(
        settings,
        {
            "broken": engine_config(engine.base, "/broken"),
            "html": engine_config(engine.base, "/html"),
            "down": {"base_url": down},
            "shapeless": engine_config(engine.base, results_path="nowhere"),
        },
    )
    assert "answered HTTP 500" in tool_error({"query": "x"}, "broken")
    assert "did not answer JSON" in tool_error({"query": "x"}, "html")
    assert "cannot be reached" in tool_error({"query": "x"}, "down")
    assert "without a result list" in tool_error({"query": "x"}, "shapeless")


@pytest.mark.parametrize(
    ("base", "reason"),
    [
        (None, "loopback"),
        ("http://169.254.169.254/latest", "metadata"),
        ("http://10.1.2.3/search", "private"),
        ("http://metadata.google.internal/search", "metadata"),
    ],
)
def test_an_engine_on_a_refused_address_is_a_tool_error_without_a_request(
    settings: Any, engine: FakeSearchEngine, base: str | None, reason: str
) -> None:
    config = engine_config(engine.base) if base is None else {"base_url": base}
    configure(settings, {"fake": config}, allow=[])
    message = tool_error({"query": "x"})
    assert reason in message and "WEGENT_OUTBOUND_ALLOWLIST" in message
    assert engine.requests == []


def test_results_are_bounded(settings: Any, engine: FakeSearchEngine) -> None:
    configure(settings, {"fake": engine_config(engine.base)})
    engine_ = web_search.engines()[0]
    items = [{"title": f"t{i}", "link": f"https://e/{i}", "body": "s" * 2000} for i in range(100)]
    text = web_search.format_results("q", items, engine_, 50)
    assert len(text) <= web_search.RESULT_CHARS + len("\n[results cut]")
    assert "s" * (web_search.SNIPPET_CHARS + 1) not in text
    assert web_search.format_results("q", [{"other": 1}], engine_, 5) == "No results for 'q'."


def test_offered_only_when_enabled_and_asked(settings: Any, engine: FakeSearchEngine) -> None:
    configure(settings, {"first": engine_config(engine.base), "second": engine_config(engine.base)})
    assert toolbox_for().tools == {}  # the message did not ask
    offered = toolbox_for(web_search=True).tools
    assert list(offered) == ["web_search"] and offered["web_search"].engine.name == "first"
    assert toolbox_for(web_search=True, search_engine="second").tools["web_search"].engine.name == "second"
    unknown = toolbox_for(web_search=True, search_engine="nope")
    assert unknown.tools == {}
    assert [p.source for p in unknown.problems] == ["web_search"]
    assert "'nope' is not configured (available: first, second)" in unknown.problems[0].message


def test_malformed_engines_are_left_out(settings: Any, engine: FakeSearchEngine) -> None:
    configure(
        settings,
        {
            "good": engine_config(engine.base),
            "no-url": {"display_name": "x"},
            "ftp": {"base_url": "ftp://example.org"},
            "bad-max": {"base_url": "https://e.org", "max_results": 0},
            "scalar": 3,
        },
    )
    assert [e.name for e in web_search.engines()] == ["good"]
    settings.WEB_SEARCH_ENGINES = "{not json"
    assert web_search.engines() == []
    settings.WEB_SEARCH_ENGINES = "[1]"
    assert web_search.engines() == []


@pytest.mark.django_db
def test_the_search_engines_route(settings: Any, api: Any, anon_client: Any) -> None:
    assert api.get("/api/chat/search-engines").json() == {"enabled": False, "engines": []}
    assert anon_client.get("/api/chat/search-engines").status_code == 401
    secret = {"base_url": "https://search.example/s", "api_key": "sk-never-shown", "display_name": "Example"}
    configure(settings, {"example": secret, "plain": {"base_url": "https://plain.example/s"}})
    response = api.get("/api/chat/search-engines")
    assert response.status_code == 200
    assert response.json() == {
        "enabled": True,
        "engines": [
            {"name": "example", "display_name": "Example"},
            {"name": "plain", "display_name": "plain"},
        ],
    }
    body = response.content.decode()
    assert "sk-never-shown" not in body and "search.example" not in body
    assert anon_client.get("/api/chat/search-engines").status_code == 401
    # Enabled without any usable engine is off.
    configure(settings, {})
    assert api.get("/api/chat/search-engines").json() == {"enabled": False, "engines": []}
