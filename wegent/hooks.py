"""Extension points: how a lower app lets the apps above it plug in, and the list of them all.

Apps import only downward (accounts <- kinds <- tasks <- knowledge <- chat). When a rule in a
lower app needs something only a higher app knows (the chat stream of an answer, the Kind rows
of a group), the lower app declares a ``Hook`` and the higher app registers a callable in its
``AppConfig.ready()`` (through the app's ``hooks.install()``). The lower app decides how the
callables are called: all of them, the first answer wins, failures logged or raised.

Every extension point of the project, in one list (keep it complete: a test checks that each
declared ``Hook`` is named here). Each entry: hook name, declared in -> filled by: called when.

- ``accounts.user_created``, accounts/hooks.py -> nobody yet (tests): right after a user was
  created (admin API, console, OIDC, service key); a failure reaches the caller.
- ``accounts.group_delete_blockers``, accounts/hooks.py -> kinds/hooks.py: before a group is
  deleted; a returned reason refuses the delete (400).
- ``accounts.member_removed``, accounts/hooks.py -> kinds/hooks.py: a member left or was removed
  (their Kind rows pass to the group owner), inside the transaction.
- ``accounts.admin_stats``, accounts/hooks.py -> kinds/hooks.py: ``GET /api/admin/stats`` adds the
  named counters the providers return.
- ``accounts.team_summaries``, accounts/hooks.py -> kinds/hooks.py: the quick-access teams of
  ``GET /api/users/me``; the first provider that knows a team wins.
- ``accounts.bootstrap_steps``, accounts/hooks.py -> kinds/hooks.py (init data): ``manage.py
  bootstrap``, after the admin exists.
- ``tasks.task_changed``, tasks/services/events.py -> chat/hooks.py (``task:status``),
  devices/hooks.py (a CANCELLING task's device gets ``task:cancel``; push mode takes a new
  executor answer) and subscriptions/hooks.py (an executor team's run ends with its task):
  after the commit that changed a task's status, title, members or messages; failures are
  logged.
- ``tasks.task_deleted``, tasks/services/events.py -> devices/hooks.py (``task:close-session`` to
  the task's device): after the commit that deleted a task; failures are logged.
- ``tasks.stream_stoppers``, tasks/services/lifecycle.py -> chat/hooks.py: ``POST
  /api/tasks/{id}/cancel`` of a running answer; the first that stops a live stream wins.
- ``tasks.answer_starters``, tasks/services/lifecycle.py -> chat/hooks.py and devices/hooks.py:
  after the commit of a route that wrote an answer outside ``chat:send`` (REST and Kind API task
  creation, ``POST /api/tasks/{id}/confirm-stage``); the first that takes it (a Chat-shell
  team's stream, the task's device) wins, else it waits PENDING for an executor.
- ``tasks.answer_gates``, tasks/services/turns.py -> quotas/hooks.py: a turn that asks for an
  answer (REST and Kind API task creation, subscription runs; ``chat:send`` and
  ``/api/v1/responses`` check earlier and say so with ``TurnOptions.gates_passed``), before any
  row is written; a gate refuses by raising (``QuotaExceeded``, 429).
- ``tasks.live_text_providers``, tasks/services/messages.py -> chat/hooks.py: reading a running
  answer's text so far; the first non-None answer wins, failures are logged.
- ``chat.executor_dispatchers``, chat/executors.py -> devices/hooks.py: ``chat:send`` stored a
  turn of an executor team (non-Chat shells); the first that routes its answer (to a device)
  returns the events to send.
- ``chat.executor_cancellers``, chat/executors.py -> devices/hooks.py: ``chat:cancel`` of an
  answer a device runs (``task:cancel`` to it, the answer ends CANCELLED).
- ``chat.executor_session_closers``, chat/executors.py -> devices/hooks.py: ``task:close-session``
  of a task whose answers ran on a device.
- ``wegent.gauge_providers``, wegent/metrics.py -> chat/hooks.py (streams running now): each
  ``/metrics`` scrape reads every provider's (name, help, value); a failure is logged and that
  gauge left out.
- ``wegent.shutdown``, wegent/lifespan.py -> chat/hooks.py (finish or cancel streams) and
  knowledge/hooks.py (stop the MCP session manager): the ASGI
  server stops (lifespan shutdown); awaited in order, failures are logged.
- ``tasks.team_resolvers``, tasks/services/turns.py -> subscriptions/hooks.py: ``team_of`` found
  no team for a task as its owner sees it; a resolver gives the team the task runs from the
  server's own rows (a rental's run: its publisher's team). The first non-None wins.
- ``tasks.model_text_providers``, tasks/services/messages.py -> subscriptions/hooks.py: the
  model's history (chat) and an executor's task payload (devices) read user messages; a
  provider gives the text to read instead of a stand-in (a rented subscription's private
  prompt). Every provider is asked; each returns at once for tasks that are not its own.
- ``tasks.knowledge_document_counts``, tasks/services/task_knowledge.py -> knowledge/hooks.py:
  the document counts of ``/api/tasks/{id}/knowledge-bases``; the first counter answers.
- ``kinds.running_task_finders``, kinds/events.py -> tasks/hooks.py: the teams and bots routes
  (running-tasks answers, deleting a team) ask for the PENDING/RUNNING tasks of some teams.
- ``kinds.team_renamed``, kinds/events.py -> tasks/hooks.py: a team renamed through
  ``PUT /api/teams/{id}``; its tasks follow the new name, inside the rename's transaction.
- ``kinds.live_status``, kinds/events.py -> devices/hooks.py: the Kind API renders documents
  of a kind (list, get, create, update); an overlay fills status fields no row stores (a
  Device's ``status.online`` from its online entry). Applied after the list cache, never cached.
- ``kinds.referrer_finders``, kinds/events.py -> tasks/hooks.py (a team's tasks),
  knowledge/hooks.py (knowledge bases using a Model or Retriever) and subscriptions/hooks.py
  (a team's subscriptions): a Kind's admin page lists who refers to it beyond other Kind rows;
  failures are logged and that finder left out.

Not ``Hook``s, because they are lookup tables by key rather than lists of callbacks:

- Socket.IO namespaces, ``wegent/realtime/namespaces.py`` ``register(namespace)``: path ->
  handler object; filled by chat/hooks.py (``/chat``) and devices/hooks.py
  (``/local-executor``); the transport looks one up per packet.
- Kind types, ``kinds/registry.py`` ``register(KindType)``: URL plural -> schema and storage
  backend; filled by kinds itself and tasks/kind_backend.py (Task, Workspace); the Kind API
  looks one up per request.
- Kinds console editors, ``kinds/admin_editors.py`` ``register(kind, editor)``: a kind another
  app owns -> how admin writes its edited YAML; filled by knowledge/hooks.py (KnowledgeBase).
- HTTP mounts, ``wegent/mounts.py`` ``register(prefix, app)``: a path prefix an app serves with
  its own ASGI application; filled by knowledge/hooks.py (the knowledge MCP server at
  ``/mcp/knowledge`` and ``/api/mcp/knowledge``); the HTTP application looks one up per request.
- Django signals stay where any write of a model, from any path, must be seen: the list cache
  (kinds/hooks.py) and attachment files (tasks/services/attachments.py) follow ``post_save``/
  ``post_delete``. The hooks above are not model signals: most return answers (a refusal, a
  summary, a stopped stream) that a signal's ``send`` would hand back as untyped pairs, and
  their order and failure rules belong to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_DECLARED: list[Hook[Any]] = []


class Hook(Generic[F]):
    """An ordered set of callables of one signature that higher apps register.

    Registering is idempotent (a ``ready()`` that runs twice adds nothing) and returns the
    callable, so ``register`` also works as a decorator. Iterating gives a snapshot, so a
    callable may unregister itself while the hook is being called.
    """

    __slots__ = ("_callables", "name", "purpose")

    def __init__(self, name: str, purpose: str) -> None:
        self.name = name
        self.purpose = purpose
        self._callables: list[F] = []
        _DECLARED.append(self)

    def register(self, fn: F) -> F:
        if fn not in self._callables:
            self._callables.append(fn)
        return fn

    def unregister(self, fn: F) -> None:
        if fn in self._callables:
            self._callables.remove(fn)

    @contextmanager
    def registered(self, *fns: F) -> Iterator[None]:
        """Registers ``fns`` for the duration of the block (tests); removes only what it added."""
        added = [fn for fn in fns if fn not in self._callables]
        for fn in added:
            self.register(fn)
        try:
            yield
        finally:
            for fn in added:
                self.unregister(fn)

    def __iter__(self) -> Iterator[F]:
        return iter(tuple(self._callables))

    def __len__(self) -> int:
        return len(self._callables)

    def __contains__(self, fn: object) -> bool:
        return fn in self._callables

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._callables)} registered>"

    def call_all(self, *args: Any, log_errors: bool = False) -> None:
        """Calls every registered callable in order. A failure propagates (and stops the rest),
        or with ``log_errors`` is logged and the rest still run."""
        for fn in self:
            if not log_errors:
                fn(*args)
                continue
            try:
                fn(*args)
            except Exception:
                logger.exception("hook %s: %r failed", self.name, fn)


def declared() -> list[Hook[Any]]:
    """Every ``Hook`` created so far (the modules that declare them are imported by then)."""
    return list(_DECLARED)
