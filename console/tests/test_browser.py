"""The console in a real browser: Debian's Chromium driven by Playwright (no browser download)
against the real server on a loopback port, with the fake LLM streaming slowly.

An operator logs in, opens the dashboard, inspects a running task and sees its text grow,
cancels it (the task ends CANCELLED), then edits a Kind's YAML with an error (the error shows
inline) and with a fix (saved). A screenshot of each step goes to ``artifacts/browser/``.

Chromium comes from ``scripts/ensure-browser.sh`` (CI runs it). Without it the test is skipped
with the reason, except under ``CI=true``, where a missing browser fails the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from accounts.services.tokens import issue_access_token
from accounts.tests.factories import PASSWORD
from chat.tests.sockets import connect
from kinds.models import Kind
from tasks import statuses
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("WEGENT_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")


def _unavailable() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements-dev.txt)"
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM}: run scripts/ensure-browser.sh"
    return None


@pytest.fixture
def browser_page() -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test required in CI: {reason}")
        print(f"\n!!! SKIPPING the browser test: {reason}")  # loud in the output as well
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="wegent-chromium-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                viewport={"width": 1280, "height": 860},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(20_000)
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _db(read: Callable[[], T]) -> T:
    """Runs an ORM read off this thread: Playwright's sync API keeps an event loop running here,
    which Django's ORM refuses to run under."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


class SocketThread:
    """A user's Socket.IO client on its own event loop in a thread (so it keeps answering the
    server's pings while the browser is driven from this thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# ``browser_page`` last: the rows are made before Playwright's loop runs on this thread.
def test_operator_console_in_chromium(live_server_url, admin_user, user, chat_team, browser_page):
    page = browser_page
    team = _db(lambda: chat_team(user, "fake-n2000-d40"))
    ghost_id = _db(lambda: Kind.objects.get(kind="Ghost", name="c-ghost").pk)
    token = _db(lambda: issue_access_token(user))

    # 1. Log in.
    page.goto(f"{live_server_url}/admin/login/?next=/admin/")
    page.fill("#id_username", admin_user.user_name)
    page.fill("#id_password", PASSWORD)
    _shot(page, "01-login.png")
    page.click("input[type=submit]")
    page.wait_for_selector("#console-dashboard-link")

    # A user starts a long answer through the real /chat namespace (the web frontend's path).
    sockets = SocketThread()
    try:
        socket = sockets.run(connect(live_server_url, token=token))
        ack = sockets.run(socket.call("chat:send", {"team_id": team.pk, "message": "go"}))
        sockets.run(socket.wait_for("chat:chunk"))
        task_id = ack["task_id"]

        # 2. The dashboard shows the running task and stream, each linked to its rows.
        page.click("#console-dashboard-link a")
        page.wait_for_selector("#console-dashboard")
        running = page.locator(
            '.console-figure:has(.label:text-is("Chat streams running now (all workers)")) a.value'
        )
        assert running.inner_text() == "1"
        _shot(page, "02-dashboard.png")

        # 3. The inspector shows the answer's text growing while it streams.
        page.goto(f"{live_server_url}/admin/tasks/taskresource/{task_id}/change/")
        answer_id = _db(lambda: Subtask.objects.get(task_id=task_id, role=Subtask.ASSISTANT).pk)
        text = page.locator(f"#text-{answer_id}")
        first = len(text.inner_text())
        page.wait_for_function(
            "([id, n]) => document.getElementById('text-' + id).textContent.length > n + 20",
            arg=[answer_id, first],
        )
        assert len(text.inner_text()) > first
        _shot(page, "03-inspector-streaming.png")

        # 4. Cancel: the stream stops, the task ends CANCELLED, the user's client is told.
        page.click("#inspector-cancel")
        page.wait_for_selector("ul.messagelist li")
        sockets.run(socket.wait_for("chat:cancelled"))
        assert _db(lambda: TaskResource.objects.get(pk=task_id).status) == statuses.CANCELLED
        page.reload()
        assert "CANCELLED" in page.locator(f'.inspector-status[data-subtask="{answer_id}"]').inner_text()
        _shot(page, "04-task-cancelled.png")
        sockets.run(socket.close())
    finally:
        sockets.stop()

    # 5. A Kind's YAML with an error: the form shows it inline and nothing is saved.
    page.goto(f"{live_server_url}/admin/kinds/kind/{ghost_id}/change/")
    editor = page.locator("textarea[name=document_yaml]")
    original = editor.input_value()
    editor.fill(original + "\nspec: [this is not closed\n")
    page.click("input[name=_save]")
    error = page.locator(".errorlist").first
    assert "YAML" in error.inner_text()
    _shot(page, "05-kind-yaml-error.png")

    # 6. Fixed: saved, and the new prompt is stored.
    editor = page.locator("textarea[name=document_yaml]")
    editor.fill(original.replace("You are a test bot.", "You are an edited bot."))
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist li.success")
    _shot(page, "06-kind-yaml-saved.png")
    stored = _db(lambda: Kind.objects.get(pk=ghost_id).document["spec"]["systemPrompt"])
    assert stored == "You are an edited bot."

    # The dashboard shot the README shows.
    page.goto(f"{live_server_url}/admin/dashboard/")
    _shot(page, "07-dashboard-after.png")
