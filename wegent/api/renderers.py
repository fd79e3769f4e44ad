"""JSON rendering with orjson: the same bytes DRF's renderer produces, several times faster.

Encoding the responses is a visible share of a list request (a 20-bot list is ~7 KB).
orjson writes UTC datetimes as ``...Z`` like DRF (``OPT_UTC_Z``), keeps non-ASCII text as UTF-8
(DRF's UNICODE_JSON) and writes compact JSON (COMPACT_JSON); anything it does not know
(lazy strings, Decimals, querysets, ...) goes through DRF's own encoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder().default
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class FastJSONRenderer(JSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_fallback, option=_OPTIONS)
