"""The Knowledge MCP server's tools, built with the ``mcp`` SDK's ``MCPServer``.

Imported only when the first MCP request arrives (``knowledge.mcp_server``), so the SDK is not
loaded by processes that never serve it. Without ``from __future__ import annotations``: the SDK
reads the tools' signatures (``Context`` included) at run time. Each call checks the token of
its own HTTP request and acts as that user.
"""

import json
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from knowledge.services.mcp_actions import (
    MAX_CONTENT_CHARS,
    TokenRefused,
    actor_for_token,
    bearer,
    doc_create,
    doc_list,
    doc_update,
    kb_create,
    kb_list,
)
from wegent.errors import DomainError
from wegent.realtime.db import run_sync


async def _call(ctx: Context, fn: Callable[..., Any], *args: Any) -> str:
    try:
        actor = await run_sync(actor_for_token, bearer(ctx.headers))
        result = await run_sync(fn, actor, *args)
    except TokenRefused as exc:
        raise ToolError(str(exc)) from None
    except DomainError as exc:
        raise ToolError(str(exc.detail)) from None
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return json.dumps(result, ensure_ascii=False, default=str)


def build() -> MCPServer:
    server = MCPServer(
        "wegent-knowledge",
        instructions="Knowledge bases of the user this task runs for: list, create, add and edit documents.",
        log_level="WARNING",
    )

    @server.tool(
        description="List the knowledge bases you can read (scope: all, personal, group, organization)."
    )
    async def list_knowledge_bases(ctx: Context, scope: str = "all") -> str:
        return await _call(ctx, kb_list, scope)

    @server.tool(description="List the documents of a knowledge base.")
    async def list_documents(ctx: Context, knowledge_base_id: int) -> str:
        return await _call(ctx, doc_list, knowledge_base_id)

    @server.tool(description="Create a knowledge base (indexed with your first embedding model, if any).")
    async def create_knowledge_base(
        ctx: Context, name: str, description: str = "", namespace: str = "default", kb_type: str = "notebook"
    ) -> str:
        if len(name) > 100 or len(description) > 500 or len(namespace) > 100:
            raise ToolError("name is at most 100 characters, description 500, namespace 100")
        return await _call(ctx, kb_create, name, description, namespace, kb_type)

    @server.tool(
        description=(
            "Add a document to a knowledge base: text in `content`, or a file as `file_base64` with "
            "its `file_extension` (pdf, docx, md, txt...). It is indexed in the background."
        )
    )
    async def create_document(
        ctx: Context,
        knowledge_base_id: int,
        name: str,
        content: str | None = None,
        file_base64: str | None = None,
        file_extension: str = "",
    ) -> str:
        if (content and len(content) > MAX_CONTENT_CHARS) or (
            file_base64 and len(file_base64) > MAX_CONTENT_CHARS
        ):
            raise ToolError(f"The document is larger than {MAX_CONTENT_CHARS} characters")
        return await _call(
            ctx, doc_create, knowledge_base_id, name[:255], content, file_base64, file_extension[:20]
        )

    @server.tool(description="Replace a text document's content (it is indexed again).")
    async def update_document_content(ctx: Context, document_id: int, content: str) -> str:
        if len(content) > MAX_CONTENT_CHARS:
            raise ToolError(f"The content is larger than {MAX_CONTENT_CHARS} characters")
        return await _call(ctx, doc_update, document_id, content)

    return server
