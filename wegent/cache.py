"""Django's Redis cache backend, keeping one redis-py client per connection pool.

Django's client builds a new ``redis.Redis`` around its pool for every cache call; its
constructor (option parsing, response callbacks) was about 3 % of a Kind write's CPU with a few
cache calls per request (py-spy, bench/kinds_load.py). A ``redis.Redis`` is safe to share
between threads (each command checks a connection out of the pool), so one per pool is kept.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _SharedClients(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClients
