"""The MCP tool source against a real MCP server (the SDK's server side on a loopback port),
through ``open_toolbox`` as the runner calls it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from chat.tests.fake_mcp import Blackhole, FakeMCPServer
from chat.tools.base import Toolbox, ToolError, TurnContext
from chat.tools.mcp import fill_placeholders, placeholder_data
from chat.tools.sources import open_toolbox
from kinds.specs.ghost import GhostView
from wegent.tests.helpers import free_port

T = TypeVar("T")

CTX = TurnContext(user_id=42, user_name="alice", task_id=1203, subtask_id=5002, team_name="wegent-chat")


@pytest.fixture
def mcp_server(settings: Any) -> Iterator[FakeMCPServer]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 5.0
    settings.MCP_ALLOW_STDIO = False
    settings.CHAT_MCP_ENABLED = False
    with FakeMCPServer() as server:
        yield server


def ghost(servers: Any) -> GhostView:
    return GhostView.of({"systemPrompt": "", "mcpServers": servers})


def with_toolbox(
    servers: Any, body: Callable[[Toolbox], Awaitable[T]], ctx: TurnContext = CTX
) -> tuple[Toolbox, T]:
    """Opens the turn's toolbox, runs ``body`` with it and closes it, in one task as the runner."""

    async def main() -> tuple[Toolbox, T]:
        toolbox = await open_toolbox(ctx, ghost(servers))
        try:
            return toolbox, await body(toolbox)
        finally:
            await toolbox.aclose()

    return asyncio.run(main())


async def nothing(toolbox: Toolbox) -> None:
    return None


def sources(toolbox: Toolbox) -> dict[str, str]:
    return {p.source: p.message for p in toolbox.problems}


def test_both_transports_list_and_call_tools_and_close_their_sessions(mcp_server: FakeMCPServer) -> None:
    servers = {
        "streamed": {"type": "streamable-http", "url": mcp_server.streamable_url},
        "events": {"type": "sse", "url": mcp_server.sse_url},
    }

    async def body(toolbox: Toolbox) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["echo"] = await toolbox.tools["echo"].run({"text": "hi", "times": 2})
        out["echo_2"] = await toolbox.tools["echo_2"].run({"text": "over sse"})
        out["picture"] = await toolbox.tools["picture"].run({})
        with pytest.raises(ToolError) as caught:
            await toolbox.tools["fail_2"].run({"reason": "on purpose"})
        out["fail"] = caught.value.message
        out["big"] = await toolbox.tools["big"].run({"size": 300_000})
        out["ended_before_close"] = len(mcp_server.ended)
        return out

    toolbox, out = with_toolbox(servers, body)
    assert toolbox.problems == []
    names = {spec.name for spec in toolbox.specs()}
    assert {"echo", "fail", "hang", "big", "picture"} <= names
    assert {"echo_2", "fail_2", "hang_2", "big_2", "picture_2"} <= names
    echo = toolbox.tools["echo"].spec
    assert echo.description == "Echo the text back, `times` times."
    assert echo.parameters["type"] == "object" and echo.parameters["required"] == ["text"]
    assert out["echo"] == "echo: hi echo: hi"
    assert out["echo_2"] == "echo: over sse"
    assert out["picture"].startswith("a pixel\n[image: image/png")
    assert "fail tool failed: on purpose" in out["fail"]
    assert len(out["big"]) < 101_000
    assert out["big"].startswith("0123456789")
    assert out["big"].endswith("[output truncated: 300000 characters, the first 100000 shown]")
    # Sessions stay open for the turn and end when the toolbox closes: the server sees the
    # streamable-HTTP session terminated and the SSE stream closed.
    assert out["ended_before_close"] == 0
    assert mcp_server.wait_ended(2)
    assert {kind for kind, _ in mcp_server.ended} == {"streamable-http", "sse"}


def test_sessions_are_reused_within_a_turn(mcp_server: FakeMCPServer) -> None:
    servers = {"s": {"type": "streamable-http", "url": mcp_server.streamable_url}}

    async def body(toolbox: Toolbox) -> None:
        for n in range(3):
            assert await toolbox.tools["echo"].run({"text": str(n)}) == f"echo: {n}"

    with_toolbox(servers, body)
    session_ids = {h.get("mcp-session-id") for h in mcp_server.headers_for("/mcp") if h.get("mcp-session-id")}
    assert len(session_ids) == 1


def test_placeholders_are_filled_in_url_and_headers(mcp_server: FakeMCPServer) -> None:
    servers = {
        "p": {
            "type": "streamable-http",
            "url": mcp_server.streamable_url + "?user=${{user.name}}&task=${{ task_id }}",
            "headers": {
                "X-User": "${{user.name}}#${{user.id}}",
                "X-Ids": "${{task_id}}/${{subtask_id}}/${{team_id}}",
                "Authorization": "Bearer ${{task_token}}",
                "X-Unknown": "${{no.such.path}}",
            },
        }
    }
    ctx = TurnContext(
        user_id=42,
        user_name="alice",
        task_id=1203,
        subtask_id=5002,
        placeholders={"team_id": 9, "task_token": "tok-123"},
    )
    toolbox, _ = with_toolbox(servers, nothing, ctx)
    assert toolbox.problems == []
    seen = mcp_server.requests[0]
    assert seen.query == "user=alice&task=1203"
    assert seen.headers["x-user"] == "alice#42"
    assert seen.headers["x-ids"] == "1203/5002/9"
    assert seen.headers["authorization"] == "Bearer tok-123"
    # A placeholder naming nothing stays as written (visible, not an empty credential).
    assert seen.headers["x-unknown"] == "${{no.such.path}}"


def test_fill_placeholders_reaches_nested_values_and_keeps_unknown_ones() -> None:
    data = placeholder_data(
        TurnContext(
            user_id=7, user_name="bob", task_id=1, subtask_id=2, placeholders={"user": {"email": "b@x"}}
        )
    )
    filled = fill_placeholders(
        {"a": ["${{user.name}}-${{user.email}}", 3], "b": {"c": "${{user}} ${{missing}}"}}, data
    )
    assert filled == {"a": ["bob-b@x", 3], "b": {"c": "${{user}} ${{missing}}"}}


def test_a_down_server_is_a_problem_and_the_others_still_work(mcp_server: FakeMCPServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    servers = {
        "dead": {"type": "streamable-http", "url": dead},
        "dead-sse": {"type": "sse", "url": f"http://127.0.0.1:{free_port()}/sse"},
        "live": {"type": "streamable-http", "url": mcp_server.streamable_url},
    }

    async def body(toolbox: Toolbox) -> str:
        return await toolbox.tools["echo"].run({"text": "still here"})

    toolbox, answer = with_toolbox(servers, body)
    problems = sources(toolbox)
    assert set(problems) == {"mcp:dead", "mcp:dead-sse"}
    assert "cannot connect" in problems["mcp:dead"]
    assert "cannot connect" in problems["mcp:dead-sse"]
    assert answer == "echo: still here"


def test_hung_servers_cost_one_timeout_together(mcp_server: FakeMCPServer, settings: Any) -> None:
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 1.0
    holes = [Blackhole(), Blackhole()]
    try:
        servers = {
            "hole1": {"type": "streamable-http", "url": f"http://127.0.0.1:{holes[0].port}/mcp"},
            "hole2": {"type": "sse", "url": f"http://127.0.0.1:{holes[1].port}/sse"},
            "live": {"type": "sse", "url": mcp_server.sse_url},
        }
        started = time.monotonic()
        toolbox, _ = with_toolbox(servers, nothing)
        elapsed = time.monotonic() - started
    finally:
        for hole in holes:
            hole.close()
    problems = sources(toolbox)
    assert set(problems) == {"mcp:hole1", "mcp:hole2"}
    assert "no answer within 1 s" in problems["mcp:hole1"]
    assert "echo" in toolbox.tools
    # Opened concurrently: two dead servers one after the other would take 2 s or more.
    assert elapsed < 1.9, elapsed


def test_a_server_answering_garbage_is_a_problem(mcp_server: FakeMCPServer, settings: Any) -> None:
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 2.0
    servers = {
        "junk": {"type": "streamable-http", "url": mcp_server.base + "/garbage"},
        "junk-sse": {"type": "sse", "url": mcp_server.base + "/garbage"},
        "missing": {"type": "streamable-http", "url": mcp_server.base + "/nothing-here"},
    }
    toolbox, _ = with_toolbox(servers, nothing)
    problems = sources(toolbox)
    assert set(problems) == {"mcp:junk", "mcp:junk-sse", "mcp:missing"}
    assert "content type" in problems["mcp:junk"] and "content type" in problems["mcp:junk-sse"]
    assert "no answer within" not in problems["mcp:missing"]  # told at once, not timed out
    assert toolbox.tools == {}


def test_private_addresses_are_refused_unless_allow_listed(mcp_server: FakeMCPServer, settings: Any) -> None:
    servers = {"local": {"type": "streamable-http", "url": mcp_server.streamable_url}}
    settings.OUTBOUND_ALLOWLIST = []
    toolbox, _ = with_toolbox(servers, nothing)
    message = sources(toolbox)["mcp:local"]
    assert "loopback" in message and "WEGENT_OUTBOUND_ALLOWLIST" in message
    assert mcp_server.requests == []  # refused before connecting

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    toolbox, _ = with_toolbox(servers, nothing)
    assert toolbox.problems == [] and "echo" in toolbox.tools

    # Exactly that address: the rest of 127.0.0.0/8 stays refused.
    other = {"other": {"type": "sse", "url": f"http://127.0.0.2:{mcp_server.port}/sse"}}
    toolbox, _ = with_toolbox(other, nothing)
    assert "127.0.0.2 is a loopback address" in sources(toolbox)["mcp:other"]


def test_malformed_config_is_a_problem_never_an_exception(mcp_server: FakeMCPServer) -> None:
    servers = {
        "text": "http://example.com/mcp",
        "nourl": {"type": "sse"},
        "ftp": {"type": "ftp", "url": "ftp://example.com/"},
        "typenum": {"type": 3, "url": mcp_server.sse_url},
        "headers": {"type": "sse", "url": mcp_server.sse_url, "headers": ["x"]},
        "timeout": {"type": "sse", "url": mcp_server.sse_url, "timeout": "soon"},
        "scheme": {"type": "sse", "url": "file:///etc/passwd"},
        "good": {"url": mcp_server.streamable_url},  # no type: streamable HTTP
    }
    toolbox, _ = with_toolbox(servers, nothing)
    problems = sources(toolbox)
    assert set(problems) == {f"mcp:{n}" for n in servers if n != "good"}
    assert "must be an object" in problems["mcp:text"]
    assert "needs a url" in problems["mcp:nourl"]
    assert "unknown type 'ftp'" in problems["mcp:ftp"]
    assert "only http and https" in problems["mcp:scheme"]
    assert "echo" in toolbox.tools

    async def odd() -> Toolbox:
        toolbox = await open_toolbox(CTX, types.SimpleNamespace(mcp_servers=["not", "a", "map"]))
        await toolbox.aclose()
        return toolbox

    assert [p.source for p in asyncio.run(odd()).problems] == ["mcp"]


def test_stdio_is_refused_unless_the_operator_allows_it(mcp_server: FakeMCPServer, settings: Any) -> None:
    servers = {"local": {"type": "stdio", "command": sys.executable, "args": ["-m", "chat.tests.fake_mcp"]}}
    toolbox, _ = with_toolbox(servers, nothing)
    assert "WEGENT_MCP_ALLOW_STDIO" in sources(toolbox)["mcp:local"]
    assert toolbox.tools == {}

    settings.MCP_ALLOW_STDIO = True
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 30.0

    async def body(toolbox: Toolbox) -> str:
        return await toolbox.tools["echo"].run({"text": "piped"})

    toolbox, answer = with_toolbox(servers, body)
    assert toolbox.problems == []
    assert answer == "echo: piped"


def test_a_hanging_tool_is_cancelled_at_once(mcp_server: FakeMCPServer) -> None:
    servers = {"s": {"type": "streamable-http", "url": mcp_server.streamable_url}}

    async def body(toolbox: Toolbox) -> bool:
        call = asyncio.create_task(toolbox.tools["hang"].run({}))
        assert await asyncio.to_thread(mcp_server.hang_started.wait, 10)
        call.cancel()
        # Returns promptly: the cancelled call does not wait for the server.
        done, _ = await asyncio.wait([call], timeout=5)
        assert done and call.cancelled()
        # The session is still usable afterwards.
        return await toolbox.tools["echo"].run({"text": "after"}) == "echo: after"

    _, still_usable = with_toolbox(servers, body)
    assert still_usable
    assert mcp_server.wait_ended(1)


def test_closing_the_toolbox_while_a_tool_hangs_ends_the_session(mcp_server: FakeMCPServer) -> None:
    servers = {"s": {"type": "sse", "url": mcp_server.sse_url}}

    async def body(toolbox: Toolbox) -> asyncio.Task[str]:
        call = asyncio.create_task(toolbox.tools["hang"].run({}))
        assert await asyncio.to_thread(mcp_server.hang_started.wait, 10)
        return call

    async def main() -> None:
        toolbox = await open_toolbox(CTX, ghost(servers))
        call = await body(toolbox)
        await asyncio.wait_for(toolbox.aclose(), 10)
        done, _ = await asyncio.wait([call], timeout=5)
        assert done
        with pytest.raises(ToolError):
            call.result()

    asyncio.run(main())
    assert mcp_server.wait_ended(1)


def test_cancelling_the_turn_while_servers_connect_leaves_nothing_running(settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 30.0
    hole = Blackhole()

    async def main() -> list[asyncio.Task[Any]]:
        servers = {"hole": {"type": "streamable-http", "url": f"http://127.0.0.1:{hole.port}/mcp"}}
        opening = asyncio.create_task(open_toolbox(CTX, ghost(servers)))
        while not [t for t in asyncio.all_tasks() if t.get_name() == "mcp:hole"]:
            await asyncio.sleep(0)
        holders = [t for t in asyncio.all_tasks() if t.get_name() == "mcp:hole"]
        opening.cancel()
        # At once: a server still connecting is dropped, not waited for (up to its timeout).
        done, _ = await asyncio.wait([opening], timeout=3)
        assert done and opening.cancelled()
        assert holders and all(t.done() for t in holders)
        return holders

    try:
        asyncio.run(main())
    finally:
        hole.close()


def test_global_servers_join_the_ghosts_when_enabled(mcp_server: FakeMCPServer, settings: Any) -> None:
    settings.CHAT_MCP_SERVERS = json.dumps(
        {
            "mcpServers": {
                "global": {"type": "sse", "url": mcp_server.sse_url, "headers": {"X-G": "${{user.name}}"}}
            }
        }
    )
    own = {"own": {"type": "streamable-http", "url": mcp_server.streamable_url}}

    settings.CHAT_MCP_ENABLED = False
    toolbox, _ = with_toolbox(own, nothing)
    assert "echo" in toolbox.tools and "echo_2" not in toolbox.tools

    settings.CHAT_MCP_ENABLED = True
    toolbox, _ = with_toolbox(own, nothing)
    assert toolbox.problems == []
    assert {"echo", "echo_2"} <= set(toolbox.tools)
    assert "alice" in [h.get("x-g") for h in mcp_server.headers_for("/sse")]

    settings.CHAT_MCP_SERVERS = "{not json"
    toolbox, _ = with_toolbox(own, nothing)
    assert [p.source for p in toolbox.problems] == ["mcp"]
    assert "CHAT_MCP_SERVERS" in toolbox.problems[0].message
    assert "echo" in toolbox.tools
