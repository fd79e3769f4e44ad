"""A test-only Socket.IO namespace that makes the server ask a browser something.

Until a turn's tool loop drives skill tools, a test needs a way to start a ``skill:request``
inside a server process (in-process live server or a ``manage.py serve``-like worker): a client
connects to ``/skill-probe`` and sends ``ask``; the server runs a real ``BrowserTool`` for the
given user and task and acks with the tool's result or its ``ToolError`` message. Never
registered outside tests (``register()`` is called by the test fixture or by
``chat.tests.skill_worker``).

Run as a module, it serves like ``manage.py serve`` with the probe added:
``python -m chat.tests.skill_probe <port>``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

PATH = "/skill-probe"


def _namespace() -> Any:
    from chat.tools.base import ToolError, TurnContext
    from chat.tools.skills import BrowserTool, BrowserToolDef
    from wegent.realtime.namespaces import Namespace, Socket

    class Probe(Namespace):
        path = PATH
        events = {"ask": "on_ask"}

        async def on_ask(self, socket: Socket, data: Any) -> Any:
            ctx = TurnContext(user_id=data["user_id"], user_name="", task_id=data["task_id"], subtask_id=0)
            tool_def = BrowserToolDef(data.get("tool", "render"), data["action"], "probe", {"type": "object"})
            tool = BrowserTool(ctx, data["skill_name"], tool_def)
            try:
                return {"result": await tool.run(data.get("data") or {})}
            except ToolError as exc:
                return {"tool_error": exc.message}

    return Probe()


def register() -> None:
    from wegent.realtime import namespaces

    namespaces.register(_namespace())


def unregister() -> None:
    from wegent.realtime import namespaces

    namespaces.unregister(PATH)


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")
    django.setup()
    register()
    from wegent import server

    server.run("127.0.0.1", int(sys.argv[1]))
