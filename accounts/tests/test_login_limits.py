"""Login limits count failures, not successes (issue 13.1).

A user name is locked after repeated wrong passwords, longer on each repeat; an address is
limited on its failures, higher, and only for the names that failed from it; a correct password
is never refused because other names failed from the same address.
"""

from __future__ import annotations

import time

import pytest

from accounts.models import User
from accounts.roles import SystemRole
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"
OAUTH2 = "/api/auth/oauth2"


def _login(client, name: str, password: str, **extra):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, {"user_name": name, "password": password}, format="json", **extra)


def _oauth2(client, name: str, password: str, **extra):  # type: ignore[no-untyped-def]
    return client.post(OAUTH2, {"username": name, "password": password}, **extra)


class Clock:
    """The guard's clock, moved by hand; starts on an hour so no window boundary falls inside."""

    def __init__(self) -> None:
        self.now = (time.time() // 3600 + 1) * 3600

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:  # type: ignore[no-untyped-def]
    from accounts.services import login_guard

    fake = Clock()
    monkeypatch.setattr(login_guard, "_now", fake)
    return fake


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """User names whose stored password hash was checked, in order."""
    checked: list[str] = []
    original = User.check_password

    def spy(self, raw):  # type: ignore[no-untyped-def]
        checked.append(self.user_name)
        return original(self, raw)

    monkeypatch.setattr(User, "check_password", spy)
    return checked


def _retry_after(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.content
    assert "detail" in response.json()
    return int(response.headers["Retry-After"])


def test_repeated_successful_logins_of_one_user_are_never_refused(anon_client, user):
    codes = [_login(anon_client, "alice", PASSWORD).status_code for _ in range(40)]
    codes += [_oauth2(anon_client, "alice", PASSWORD).status_code for _ in range(20)]
    assert codes == [200] * 60


def test_one_address_logs_in_100_different_users(anon_client, make_user):
    names = [f"staff{i:03d}" for i in range(100)]
    for name in names:
        make_user(name)
    codes = [
        (_login if i % 2 else _oauth2)(anon_client, name, PASSWORD).status_code
        for i, name in enumerate(names)
    ]
    assert codes == [200] * 100


def test_other_names_failures_from_one_address_never_refuse_a_correct_password(
    anon_client, make_user, password_checks
):
    make_user("admin", role=SystemRole.ADMIN)
    assert _login(anon_client, "admin", "typo").status_code == 400  # admin's own single slip
    # 150 wrong passwords for 50 other names from the same address: past the address limit.
    codes = [_login(anon_client, f"guess{i}", "wrong").status_code for i in range(50) for _ in range(3)]
    assert codes == [400] * 150
    # The address limit bites: a name that kept failing from this address is refused unchecked...
    checked = len(password_checks)
    assert _retry_after(_login(anon_client, "guess0", "wrong")) > 0
    assert _retry_after(_oauth2(anon_client, "guess1", PASSWORD)) > 0
    assert len(password_checks) == checked
    # ...but admin, with no failures of its own beyond a slip, gets in with the right password.
    assert _login(anon_client, "admin", PASSWORD).status_code == 200
    assert _oauth2(anon_client, "admin", PASSWORD).status_code == 200
    # And so does a user who never failed, by either entry point.
    make_user("newcomer")
    assert _oauth2(anon_client, "newcomer", PASSWORD).status_code == 200


def test_200_wrong_passwords_are_refused_unchecked_and_the_lockout_grows(
    anon_client, user, clock, password_checks, settings
):
    codes = []
    for _ in range(200):
        response = _login(anon_client, "alice", "wrong")
        codes.append(response.status_code)
    assert codes == [400] * 10 + [429] * 190
    # Only the first ten were checked against the hash: the rest cost no hashing.
    assert password_checks == ["alice"] * 10
    assert _retry_after(response) == 60
    # The lock is on the name: the right password waits too, by either entry point.
    assert _retry_after(_login(anon_client, "alice", PASSWORD)) == 60
    assert _retry_after(_oauth2(anon_client, "Alice ", PASSWORD)) == 60

    clock.advance(30)
    assert _retry_after(_login(anon_client, "alice", "wrong")) == 30
    clock.advance(31)
    # Lock over; one more wrong password locks again, twice as long.
    assert _login(anon_client, "alice", "wrong").status_code == 400
    assert _retry_after(_login(anon_client, "alice", PASSWORD)) == 120
    clock.advance(121)
    assert _login(anon_client, "alice", "wrong").status_code == 400
    assert _retry_after(_login(anon_client, "alice", "wrong")) == 240
    # Capped by the maximum.
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 300
    clock.advance(241)
    assert _login(anon_client, "alice", "wrong").status_code == 400
    assert _retry_after(_login(anon_client, "alice", "wrong")) == 300
    clock.advance(301)
    assert _login(anon_client, "alice", PASSWORD).status_code == 200
    assert len(password_checks) == 14


def test_both_entry_points_and_unknown_names_share_one_failure_count(anon_client, user):
    for _ in range(5):
        assert _login(anon_client, "alice", "wrong").status_code == 400
        assert _oauth2(anon_client, "alice", "wrong").status_code == 400
    assert _oauth2(anon_client, "alice", PASSWORD).status_code == 429
    assert _login(anon_client, "alice", PASSWORD).status_code == 429
    # A name that does not exist locks the same way: the answers do not tell names apart.
    codes = [_login(anon_client, "nobody", "wrong").status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]


def test_forwarded_for_counts_only_behind_trusted_proxies(anon_client, settings):
    settings.LOGIN_ADDRESS_FAILURES = 5

    def attempts(prefix: str) -> list[int]:
        # Every request claims another address in X-Forwarded-For.
        return [
            _login(anon_client, f"{prefix}{i % 2}", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
            for i in range(8)
        ]

    # No trusted proxy: the header is the client's word and is ignored. One address: past five
    # failures it refuses the names that failed three times from it.
    settings.NUM_PROXIES = 0
    assert attempts("a") == [400] * 6 + [429] * 2
    # One trusted proxy: its X-Forwarded-For entry is the client; eight clients, none over.
    settings.NUM_PROXIES = 1
    assert attempts("b") == [400] * 8


def test_the_admin_console_login_shares_the_rule(anon_client, admin_user):
    from django.test import Client

    console = Client()
    for _ in range(10):
        response = console.post("/admin/login/", {"username": "root", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    # The console's failures locked the name for the API too...
    assert 0 < _retry_after(_login(anon_client, "root", PASSWORD)) <= 60
    # ...and the console refuses the right password while the lock lasts.
    response = console.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in console.session
    assert console.get("/admin/").status_code == 302  # sent back to the login form


def test_the_admin_console_lets_the_right_password_in(admin_user):
    from django.test import Client

    console = Client()
    response = console.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert console.get("/admin/").status_code == 200


def test_failures_are_not_forgotten_at_a_window_boundary(anon_client, user, clock):
    window = 600
    clock.advance(window - 30)
    # alice fails from elsewhere; the names from here push this address over its limit.
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    codes = [_login(anon_client, "alice", "wrong", **elsewhere).status_code for _ in range(9)]
    codes += [_login(anon_client, f"guess{i}", "wrong").status_code for i in range(34) for _ in range(3)]
    assert codes == [400] * 111
    clock.advance(31)  # the next window
    # The address is still over its limit for the names that kept failing from it...
    assert _retry_after(_login(anon_client, "guess0", "wrong")) == window - 1  # till the earlier one is gone
    # ...and alice's tenth failure locks her name.
    assert _login(anon_client, "alice", "wrong", **elsewhere).status_code == 400
    assert _retry_after(_login(anon_client, "alice", PASSWORD)) == 60
    # Two windows later everything is forgotten.
    clock.advance(2 * window)
    assert _login(anon_client, "guess0", "wrong").status_code == 400
    assert _login(anon_client, "alice", PASSWORD).status_code == 200


def test_an_unreachable_cache_still_checks_the_password(anon_client, user, monkeypatch, caplog):
    from django.core.cache import caches

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    cache = caches["login"]
    for method in ("get_many", "add", "incr", "set", "delete_many"):
        monkeypatch.setattr(cache, method, down)
    assert _login(anon_client, "alice", PASSWORD).status_code == 200
    assert _login(anon_client, "alice", "wrong").status_code == 400
    assert "Login limits skipped" in caplog.text
