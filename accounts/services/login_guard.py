"""Password-login limits: wrong passwords are counted, right ones never are.

Three counters in the ``login`` cache (Redis when ``REDIS_URL`` is set, so every worker shares
them), each in windows of ``LOGIN_FAILURE_WINDOW_SECONDS`` aligned to the clock and read
together with the window before (so a count never vanishes at a boundary):

- per user name (trimmed, lower-cased; known or not, so answers do not tell names apart): at
  ``LOGIN_USER_FAILURES`` the name is locked for ``LOGIN_LOCKOUT_SECONDS``, doubled on every
  further lockout within a day, up to ``LOGIN_LOCKOUT_MAX_SECONDS``. Every wrong password
  after a lock ends, while the window's count is still over, locks again;
- per client address: at ``LOGIN_ADDRESS_FAILURES`` the address is over its limit;
- per address and name: from an address over its limit, a name that failed there
  ``HOT_ADDRESS_NAME_FAILURES`` times is refused.

A refusal (429 with Retry-After) comes before the password is checked, so it costs no hashing
and tells nothing about the password. The address limit never touches a name without failures
of its own from that address: other names' failures cannot keep a right password out.

A success does not clear the name's count: were it to, an attacker would win a fresh set of
guesses each time the owner logs in (a script logging in every few seconds would hand out
thousands an hour). It clears only the address-and-name count, which nothing but the
address rule reads.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import BaseCache, caches

from accounts.exceptions import InvalidCredentials, TooManyLoginAttempts
from wegent import metrics

T = TypeVar("T")
logger = logging.getLogger("wegent.auth")

# Failures of one name from an address over its limit before that name is refused there: a
# user's slip or two still gets through while a script hammers from the same office.
HOT_ADDRESS_NAME_FAILURES = 3
# How long lockouts are remembered for the doubling.
STRIKE_MEMORY_SECONDS = 86400
_PREFIX = "login-guard:v1"


def _now() -> float:
    return time.time()


def _cache() -> BaseCache:
    return caches["login"]


def _name_id(user_name: str) -> str:
    # Hashed: user names are free text (any length or alphabet) and keys must stay plain.
    normalized = user_name.strip().lower()
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def _window(now: float) -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    length = settings.LOGIN_FAILURE_WINDOW_SECONDS
    number = int(now // length)
    return number, (number + 1) * length - now


def _count(key: str, timeout: int) -> int:
    """Adds one to ``key`` (created with ``timeout``) and returns the new count."""
    cache = _cache()
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)
        return 1


def _refuse(seconds: float) -> TooManyLoginAttempts:
    return TooManyLoginAttempts(retry_after=max(1, math.ceil(seconds)))


def _keys(user_name: str, address: str, window: int) -> dict[str, str]:
    name = _name_id(user_name)
    return {
        "lock": f"{_PREFIX}:lock:{name}",
        "strikes": f"{_PREFIX}:strikes:{name}",
        "name": f"{_PREFIX}:fail:{window}:{name}",
        "address": f"{_PREFIX}:addr:{window}:{address}",
        "pair": f"{_PREFIX}:pair:{window}:{address}:{name}",
    }


def _counts(
    user_name: str, address: str, now: float
) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """This window's keys, with the counts of this window and of the one before.

    A count is read over both windows, so it does not drop to nothing at a boundary: a
    failure is remembered for one to two window lengths.
    """
    number, _ = _window(now)
    keys, previous = _keys(user_name, address, number), _keys(user_name, address, number - 1)
    counted = ("name", "address", "pair")
    found = _cache().get_many([keys["lock"], *(keys[k] for k in counted), *(previous[k] for k in counted)])
    current = {k: found.get(keys[k], 0) for k in counted}
    before = {k: found.get(previous[k], 0) for k in counted}
    current["lock"] = found.get(keys["lock"])
    return keys, current, before


def check(user_name: str, address: str) -> None:
    """Raises ``TooManyLoginAttempts`` when this attempt must not reach the password check."""
    now = _now()
    _, current, before = _counts(user_name, address, now)
    locked_until = current["lock"]
    if locked_until is not None and locked_until > now:
        raise _refuse(locked_until - now)
    limit = settings.LOGIN_ADDRESS_FAILURES
    over = limit and current["address"] + before["address"] >= limit
    if over and current["pair"] + before["pair"] >= HOT_ADDRESS_NAME_FAILURES:
        left = _window(now)[1]
        # This window's failures alone keep the address over through the next window too.
        raise _refuse(left + settings.LOGIN_FAILURE_WINDOW_SECONDS if current["address"] >= limit else left)


def record_failure(user_name: str, address: str) -> None:
    metrics.login_failures.inc()
    now = _now()
    keys, _, before = _counts(user_name, address, now)
    # Kept two windows: the next window reads this one's counts as its previous.
    keep = 2 * settings.LOGIN_FAILURE_WINDOW_SECONDS
    _count(keys["address"], keep)
    _count(keys["pair"], keep)
    threshold = settings.LOGIN_USER_FAILURES
    if threshold and _count(keys["name"], keep) + before["name"] >= threshold:
        strikes = _count(keys["strikes"], STRIKE_MEMORY_SECONDS)
        seconds = min(
            settings.LOGIN_LOCKOUT_SECONDS * 2 ** min(strikes - 1, 30), settings.LOGIN_LOCKOUT_MAX_SECONDS
        )
        # The deadline rides in the value, so the lock ends on this module's clock.
        _cache().set(keys["lock"], now + seconds, seconds + 1)


def record_success(user_name: str, address: str) -> None:
    number, _ = _window(_now())
    _cache().delete_many([_keys(user_name, address, n)["pair"] for n in (number, number - 1)])


def guarded(user_name: str, address: str, attempt: Callable[[], T]) -> T:
    """Runs the password check ``attempt`` under the limits, counting a wrong password.

    If the cache cannot be reached (a Redis restart) the password is still checked, without
    limits: refusing every login for the length of an outage would be worse.
    """
    _unless_unreachable(check, user_name, address)
    try:
        result = attempt()
    except InvalidCredentials:
        _unless_unreachable(record_failure, user_name, address)
        raise
    _unless_unreachable(record_success, user_name, address)
    return result


def _unless_unreachable(step: Callable[[str, str], None], user_name: str, address: str) -> None:
    try:
        step(user_name, address)
    except TooManyLoginAttempts:
        raise
    except Exception:
        logger.warning("Login limits skipped: the cache is unreachable", exc_info=True)
