"""The orjson renderer writes what DRF's JSON renderer writes."""

from __future__ import annotations

import datetime
import decimal
import json

from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict

from wegent.api.renderers import FastJSONRenderer


def test_same_bytes_as_drf_for_typical_payloads():
    payload = {
        "text": "héllo ✓ 中文",
        "when": datetime.datetime(2026, 11, 24, 20, 52, 59, 653785, tzinfo=datetime.UTC),
        "naive": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "day": datetime.date(2026, 1, 2),
        "none": None,
        "nested": [{"a": 1, "b": [True, False]}, 2.5],
        "detail": ErrorDetail("bad", code="invalid"),
        "returned": ReturnDict({"x": 1}, serializer=None),
        "lazy": gettext_lazy("Not found"),
    }
    assert FastJSONRenderer().render(payload) == JSONRenderer().render(payload)


def test_fallback_types_and_empty_body():
    out = json.loads(FastJSONRenderer().render({"d": decimal.Decimal("1.5"), 3: "int key"}))
    assert out == {"d": 1.5, "3": "int key"}
    assert FastJSONRenderer().render(None) == b""


def test_api_responses_use_it(anon_client):
    response = anon_client.get("/api/health")
    assert response["Content-Type"] == "application/json"
    assert response.content.startswith(b'{"status":')
