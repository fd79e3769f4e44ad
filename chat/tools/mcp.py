"""MCP servers a Ghost names (``spec.mcpServers``) as tools of a turn, through the official
``mcp`` SDK client.

``mcpServers`` is ``{name: {type, url, headers, timeout} | {type: "stdio", command, args, env}}``
(reference realtime section 3.4). ``${{path}}`` placeholders in any string of a server's
config are filled from the turn (``placeholder_data``). Types: ``streamable-http``, ``sse``, and
``stdio`` only when the operator sets ``WEGENT_MCP_ALLOW_STDIO``. The operator's
``CHAT_MCP_SERVERS`` (with ``CHAT_MCP_ENABLED``) add servers to every chat, under the same
rules. Every URL passes the outbound guard (``wegent.outbound``) before connecting, and the
HTTP client dials only checked addresses.

A server that is misconfigured, refused, down, slow (``MCP_CONNECT_TIMEOUT_SECONDS`` to
connect and list its tools) or not speaking MCP becomes a ``Problem`` (source ``mcp:<name>``);
the turn goes on with the other servers, which are opened concurrently.

Sessions and anyio: the SDK's client context managers hold anyio task groups and cancel scopes,
which must be left in the task that entered them. Each server's session therefore lives in a
task of its own (``_Connection.hold``): it connects, lists the tools, waits until the toolbox
closes, then leaves its contexts itself. The toolbox's exit stack only signals and awaits those
tasks, so it works whichever task closes it (the runner opens and closes the toolbox in its
own task, and should keep doing so: a closing stack is then never cancelled half-way by a
sibling). Tool calls from any task just send on the session's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx2
from django.conf import settings

from chat.tools.base import Problem, Toolbox, ToolError, ToolSpec, TurnContext
from wegent.outbound import OutboundRefused, acheck_url, guarded_http_client

if TYPE_CHECKING:
    from mcp import ClientSession


@functools.cache
def _import_sdk() -> SimpleNamespace:
    """The mcp SDK's pieces. Imported the first time a turn opens a server (about 0.4 s and
    several MiB a process that never uses MCP would pay at start), always in a thread: the event
    loop never blocks on the import (``sdk``)."""
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import PaginatedRequestParams

    return SimpleNamespace(
        ClientSession=ClientSession,
        StdioServerParameters=StdioServerParameters,
        stdio_client=stdio_client,
        sse_client=sse_client,
        streamable_http_client=streamable_http_client,
        PaginatedRequestParams=PaginatedRequestParams,
    )


async def sdk() -> SimpleNamespace:
    return await asyncio.to_thread(_import_sdk)


def _is_mcp_error(exc: BaseException) -> bool:
    module = sys.modules.get("mcp.shared.exceptions")  # not loaded: nothing raised one yet
    return module is not None and isinstance(exc, module.MCPError)


logger = logging.getLogger(__name__)

# Results longer than this many characters are cut (the model's context is the limit).
MAX_RESULT_CHARS = 100_000
# A server listing more pages of tools than this is cut off there (a server paging forever).
MAX_TOOL_PAGES = 20
# How long closing one session may take before its task is cancelled.
CLOSE_TIMEOUT_SECONDS = 5.0
# Long-lived event streams may stay silent between messages this long.
SSE_READ_TIMEOUT_SECONDS = 300.0

TYPES = {
    "streamable-http": "streamable-http",
    "streamable_http": "streamable-http",
    "streamablehttp": "streamable-http",
    "http": "streamable-http",
    "sse": "sse",
    "stdio": "stdio",
}

_PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
# OpenAI and Anthropic accept function names of these characters, up to 64 of them.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


# -- placeholders -------------------------------------------------------------------------------


def placeholder_data(ctx: TurnContext) -> dict[str, Any]:
    """What ``${{path}}`` may name: ``user.name``, ``user.id``, ``task_id``, ``subtask_id``,
    ``team_name``, ``bot_name`` from the turn, plus whatever the runner put in
    ``ctx.placeholders`` (``team_id``, ``backend_url``, ``task_token``, ``task_data``...), which
    wins where both say something."""
    data: dict[str, Any] = {
        "user": {"name": ctx.user_name, "id": ctx.user_id},
        "task_id": ctx.task_id,
        "subtask_id": ctx.subtask_id,
        "team_name": ctx.team_name,
        "team_namespace": ctx.team_namespace,
        "bot_name": ctx.bot_name,
    }
    return _merged(data, ctx.placeholders)


def _merged(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def fill_placeholders(value: Any, data: Mapping[str, Any]) -> Any:
    """Replaces ``${{path}}`` in every string of ``value`` (nested dicts and lists too) by the
    value at ``path`` in ``data``. A placeholder naming nothing (or a dict/list) stays as
    written, so a misspelt one is visible in what the server receives rather than silently
    becoming an empty credential."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            found = _lookup(data, match.group(1))
            if found is None or isinstance(found, (Mapping, list, tuple)):
                return match.group(0)
            return str(found).lower() if isinstance(found, bool) else str(found)

        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, Mapping):
        return {key: fill_placeholders(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(item, data) for item in value]
    return value


# -- configuration ------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A server's entry in ``mcpServers`` that cannot be used; the message says why."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    type: str
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    # Seconds one tool call may wait for its answer (the tool loop's own limit also applies).
    timeout: float | None = None


def parse_config(name: str, raw: Any) -> ServerConfig:
    """One ``mcpServers`` entry (placeholders already filled) -> ``ServerConfig``; raises
    ``ConfigError`` with a readable reason."""
    if not isinstance(raw, Mapping):
        raise ConfigError("its configuration must be an object")
    declared = raw.get("type", raw.get("transport"))
    if declared is None:
        # Claude-Desktop style entries name a command (stdio) or a url without a type.
        declared = "stdio" if raw.get("command") else "streamable-http"
    kind = TYPES.get(str(declared).strip().lower().replace(" ", "")) if isinstance(declared, str) else None
    if kind is None:
        raise ConfigError(f"unknown type {declared!r} (use streamable-http, sse or stdio)")
    timeout = raw.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ConfigError("timeout must be a positive number of seconds")
    if kind == "stdio":
        command = raw.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigError("a stdio server needs a command")
        args = raw.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError("args must be a list of strings")
        env = raw.get("env")
        if env is not None and not _string_map(env):
            raise ConfigError("env must be an object of strings")
        return ServerConfig(name, kind, command=command, args=tuple(args), env=env, timeout=timeout)
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"a {kind} server needs a url")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigError("headers must be an object")
    clean = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items() if v is not None}
    return ServerConfig(name, kind, url=url.strip(), headers=clean, timeout=timeout)


def _string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


# -- results ------------------------------------------------------------------------------------


def result_text(result: Any) -> str:
    """A call result's content as text for the model: text parts joined, other parts described
    in a line, ``structuredContent`` when there is nothing else; cut at ``MAX_RESULT_CHARS``."""
    parts: list[str] = []
    for part in getattr(result, "content", None) or []:
        kind = getattr(part, "type", "")
        if kind == "text":
            parts.append(part.text)
        elif kind in ("image", "audio"):
            size = len(getattr(part, "data", "") or "") * 3 // 4
            parts.append(f"[{kind}: {getattr(part, 'mime_type', '?')}, about {size} bytes, not shown]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {getattr(part, 'uri', '')}]")
        elif kind == "resource":
            resource = part.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {resource.uri}, not shown]")
        else:
            parts.append(f"[{kind or 'unknown'} content, not shown]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return bounded("\n".join(parts))


def bounded(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output truncated: {len(text)} characters, the first {limit} shown]"


def describe_error(exc: BaseException) -> str:
    """A short readable reason for a failed connect/list (the SDK raises exception groups);
    bounded, since a server's error text goes to the model and the user."""
    return _describe(exc)[:300]


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, OutboundRefused):
        return str(exc.detail)
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"the server answered HTTP {exc.response.status_code}"
    if isinstance(exc, (httpx2.ConnectError, ConnectionError)):
        return f"cannot connect ({exc or type(exc).__name__})"
    if isinstance(exc, httpx2.TimeoutException):
        return "the server did not answer in time"
    if _is_mcp_error(exc):
        return f"MCP error: {exc.error.message}"  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {str(exc) or 'no detail'}"


# -- sessions and tools -------------------------------------------------------------------------


@dataclass
class McpTool:
    spec: ToolSpec
    connection: _Connection
    remote_name: str

    async def run(self, arguments: dict[str, Any]) -> str:
        return await self.connection.call(self.remote_name, arguments)


class _Connection:
    """One server's session, held open by its own task until the toolbox closes."""

    def __init__(self, config: ServerConfig, connect_timeout: float) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self.session: ClientSession | None = None
        self.listed: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.closing = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.hold(), name=f"mcp:{self.config.name}")

    def _transport(self, mcp: SimpleNamespace) -> contextlib.AbstractAsyncContextManager[Any]:
        c = self.config
        if c.type == "streamable-http":
            return _streamable(mcp, c, self.connect_timeout)
        if c.type == "sse":
            return mcp.sse_client(
                c.url,
                headers=c.headers,
                timeout=self.connect_timeout,
                sse_read_timeout=SSE_READ_TIMEOUT_SECONDS,
                httpx_client_factory=guarded_http_client,
            )
        return mcp.stdio_client(mcp.StdioServerParameters(command=c.command, args=list(c.args), env=c.env))

    async def hold(self) -> None:
        try:
            mcp = await sdk()
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(mcp))
                session = await stack.enter_async_context(
                    mcp.ClientSession(read, write, read_timeout_seconds=self.config.timeout)
                )
                await session.initialize()
                tools = await _list_tools(mcp, session)
                self.session = session
                self.listed.set_result(tools)
                await self.closing.wait()
        except BaseException as exc:
            if not self.listed.done():
                self.listed.set_exception(exc if isinstance(exc, Exception) else ConnectionError("closed"))
                self.listed.exception()  # retrieved here: the opener may have stopped waiting
            elif isinstance(exc, Exception):
                # Lost mid-turn: its tools now answer "no longer connected".
                logger.warning("MCP server %s dropped: %s", self.config.name, describe_error(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            self.session = None

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        session = self.session
        if session is None:
            raise ToolError(f"MCP server {self.config.name} is no longer connected")
        try:
            result = await session.call_tool(name, arguments)
        except Exception as exc:  # noqa: BLE001 - transport failures of any kind are the model's to read
            if _is_mcp_error(exc):
                message = exc.error.message[:300]  # type: ignore[attr-defined]
                raise ToolError(f"MCP server {self.config.name}: {message}") from None
            raise ToolError(f"MCP server {self.config.name}: {describe_error(exc)}") from None
        text = result_text(result)
        if getattr(result, "is_error", False):
            raise ToolError(text or f"the tool {name} failed")
        return text

    async def close(self) -> None:
        self.closing.set()
        task = self.task
        if task is None or task.done():
            return
        if not self.listed.done():
            # Still connecting (the turn was cancelled while opening): nothing to close politely.
            task.cancel()
        try:
            # ``wait`` never raises the task's own outcome; only our own cancellation.
            done, _ = await asyncio.wait([task], timeout=CLOSE_TIMEOUT_SECONDS)
            if not done:
                task.cancel()
                await asyncio.wait([task], timeout=CLOSE_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            task.cancel()
            raise


@contextlib.asynccontextmanager
async def _streamable(mcp: SimpleNamespace, config: ServerConfig, connect_timeout: float) -> Any:
    client = guarded_http_client(
        headers=config.headers, timeout=httpx2.Timeout(connect_timeout, read=SSE_READ_TIMEOUT_SECONDS)
    )
    async with client, mcp.streamable_http_client(config.url, http_client=client) as streams:
        yield streams


async def _list_tools(mcp: SimpleNamespace, session: ClientSession) -> list[Any]:
    tools: list[Any] = []
    listed = await session.list_tools()
    tools.extend(listed.tools)
    pages = 1
    while listed.next_cursor and pages < MAX_TOOL_PAGES:
        listed = await session.list_tools(params=mcp.PaginatedRequestParams(cursor=listed.next_cursor))
        tools.extend(listed.tools)
        pages += 1
    return tools


def tool_spec(tool: Any) -> ToolSpec:
    """The model's view of an MCP tool: a provider-safe name, its description and schema."""
    name = _NAME_BAD.sub("_", tool.name)[:64] or "tool"
    schema = tool.input_schema if isinstance(getattr(tool, "input_schema", None), dict) else {}
    schema = {k: v for k, v in schema.items() if k != "title"}
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    description = tool.description or getattr(tool, "title", None) or tool.name
    return ToolSpec(name=name, description=description, parameters=schema)


async def _prepare(name: str, raw: Any, data: Mapping[str, Any]) -> ServerConfig:
    config = parse_config(name, fill_placeholders(raw, data))
    if config.type == "stdio" and not settings.MCP_ALLOW_STDIO:
        raise ConfigError("stdio MCP servers are turned off on this server (WEGENT_MCP_ALLOW_STDIO)")
    if config.url:
        await acheck_url(config.url)
    return config


def global_servers() -> dict[str, Any]:
    """The operator's servers for every chat (``CHAT_MCP_SERVERS`` when ``CHAT_MCP_ENABLED``):
    JSON, either Claude-Desktop style ``{"mcpServers": {...}}`` or the bare map. Raises
    ``ConfigError`` when it is not such JSON."""
    if not settings.CHAT_MCP_ENABLED:
        return {}
    raw: Any = settings.CHAT_MCP_SERVERS
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError as exc:
            raise ConfigError(f"CHAT_MCP_SERVERS is not valid JSON ({exc})") from None
    if isinstance(raw, Mapping) and isinstance(raw.get("mcpServers"), Mapping):
        raw = raw["mcpServers"]
    if not isinstance(raw, Mapping):
        raise ConfigError("CHAT_MCP_SERVERS must be an object of named servers")
    return dict(raw)


async def mcp_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    """Tool source: the operator's global servers and the Ghost's ``mcpServers`` (the Ghost's
    entry wins on a shared name), opened concurrently."""
    servers: dict[str, Any] = {}
    try:
        servers.update(global_servers())
    except ConfigError as exc:
        toolbox.problems.append(Problem("mcp", str(exc)))
    own = getattr(ghost, "mcp_servers", None) if ghost is not None else None
    if own and not isinstance(own, Mapping):
        toolbox.problems.append(Problem("mcp", "mcpServers must be an object of named servers"))
    elif own:
        servers.update(own)
    await add_servers(ctx, servers, toolbox)


async def add_servers(ctx: TurnContext, servers: Mapping[str, Any], toolbox: Toolbox) -> None:
    """Connects ``servers`` (an ``mcpServers`` map) for the rest of the turn and adds their
    tools to ``toolbox``, problems for those that fail. Also for servers found later in the turn
    (e.g. a loaded skill's ``mcpServers``); their sessions close with the toolbox."""
    if not servers:
        return
    data = placeholder_data(ctx)
    timeout = float(settings.MCP_CONNECT_TIMEOUT_SECONDS)
    connections: list[_Connection] = []
    for name, raw in servers.items():
        try:
            config = await _prepare(str(name), raw, data)
        except (ConfigError, OutboundRefused) as exc:
            toolbox.problems.append(Problem(f"mcp:{name}", f"MCP server {name}: {describe_error(exc)}"))
            continue
        connections.append(_Connection(config, timeout))
    if not connections:
        return

    async def close_all() -> None:
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)

    # Registered before starting, so a cancelled open still closes what it started.
    toolbox.stack.push_async_callback(close_all)
    for connection in connections:
        connection.start()
    # One deadline for all: a dead server costs at most the timeout, not its share of a queue.
    await asyncio.wait([c.listed for c in connections], timeout=timeout)
    for connection in connections:
        name = connection.config.name
        if not connection.listed.done():
            toolbox.problems.append(
                Problem(f"mcp:{name}", f"MCP server {name}: no answer within {timeout:g} s")
            )
            if connection.task is not None:
                connection.task.cancel()
            continue
        error = connection.listed.exception()
        if error is not None:
            toolbox.problems.append(Problem(f"mcp:{name}", f"MCP server {name}: {describe_error(error)}"))
            continue
        for tool in connection.listed.result():
            toolbox.add(McpTool(tool_spec(tool), connection, tool.name))
