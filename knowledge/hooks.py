"""What the knowledge app plugs into the apps below it (installed by KnowledgeConfig.ready)."""

from __future__ import annotations

from kinds import admin_editors
from kinds import events as kind_events
from knowledge import console, mcp_server, selectors
from tasks.services import task_knowledge
from wegent import lifespan, mounts


def install() -> None:
    task_knowledge.document_counters.register(selectors.document_counts)
    admin_editors.register(selectors.KIND, console.edit)  # the Kinds console's YAML editor
    kind_events.referrer_finders.register(selectors.knowledge_bases_using)
    for prefix in mcp_server.PATHS:
        mounts.register(prefix, mcp_server.asgi_app)
    lifespan.shutdown.register(mcp_server.endpoint.shutdown)
