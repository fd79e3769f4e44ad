"""The reference's ``page``/``limit`` paging and its ``{total, items}`` envelope."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from wegent.api.validation import MAX_DB_INTEGER, validate_query


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@lru_cache(maxsize=32)
def _page_query(default_limit: int, max_limit: int) -> type[serializers.Serializer]:
    # Built once per (default, max) pair: making a serializer class per request cost more
    # than the rest of the paging (measured on /api/teams).
    class PageQuery(serializers.Serializer):
        # The offset, (page - 1) * limit, must fit the database's integer (OFFSET past it
        # failed as a 500): with the largest limit, that bounds the page.
        page = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER // max_limit + 1, default=1)
        limit = serializers.IntegerField(min_value=1, max_value=max_limit, default=default_limit)

    return PageQuery


def page_params(request: Request, *, default_limit: int = 10, max_limit: int = 100) -> Page:
    data = validate_query(_page_query(default_limit, max_limit), request)
    return Page(page=data["page"], limit=data["limit"])


def paginate(queryset: QuerySet, page: Page) -> tuple[list[Any], int]:
    """Returns one page of rows and the total; skips the COUNT when the first page is short."""
    rows = list(queryset[page.offset : page.offset + page.limit])
    if page.page == 1 and len(rows) < page.limit:
        return rows, len(rows)
    return rows, queryset.count()


def envelope(items: list[Any], total: int) -> dict[str, Any]:
    return {"total": total, "items": items}
