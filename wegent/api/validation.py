"""Helpers that validate request input with DRF serializers and raise 422-shaped errors.

Every integer a request carries in its query or body is bounded here, once, to what a database
column holds (``MAX_DB_INTEGER``): past it, the value failed in the database as a 500 (SQLite
"datatype mismatch" or ``OverflowError``, PostgreSQL "bigint out of range"). Integers in the
path are bounded by ``wegent.middleware.PathIntegerRangeMiddleware``.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import Field
from rest_framework.request import Request

from wegent.api.exceptions import QueryValidationError

# The largest integer every supported database stores and compares (a signed 64-bit BIGINT on
# SQLite, PostgreSQL and MySQL): row ids, offsets and counts from a request must not pass it.
MAX_DB_INTEGER = 2**63 - 1
MIN_DB_INTEGER = -(2**63)


def bound_integers(field: Field) -> None:
    """Gives every integer field under ``field`` (nested serializers, list children) the
    database's range, unless it declares a narrower one itself."""
    if isinstance(field, serializers.IntegerField):
        if field.max_value is None or field.max_value > MAX_DB_INTEGER:
            field.max_value = MAX_DB_INTEGER
            message = field.error_messages["max_value"].format(max_value=MAX_DB_INTEGER)
            field.validators.append(MaxValueValidator(MAX_DB_INTEGER, message=message))
        if field.min_value is None or field.min_value < MIN_DB_INTEGER:
            field.min_value = MIN_DB_INTEGER
            message = field.error_messages["min_value"].format(min_value=MIN_DB_INTEGER)
            field.validators.append(MinValueValidator(MIN_DB_INTEGER, message=message))
    elif isinstance(field, serializers.ListSerializer):
        bound_integers(field.child)
    elif isinstance(field, serializers.Serializer):
        for child in field.fields.values():
            bound_integers(child)
    elif isinstance(field, (serializers.ListField, serializers.DictField)):
        bound_integers(field.child)


def nullable_list(child: serializers.Serializer, **kwargs: Any) -> serializers.ListSerializer:
    """A list of ``child`` objects that may itself be null, while its items may not.

    ``Child(many=True, allow_null=True)`` hands ``allow_null`` to the items too, so
    ``[null, null]`` passed validation and failed in the view (``dict(None)``) as a 500.
    """
    return serializers.ListSerializer(child=child, allow_null=True, **kwargs)


def validate_query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    bound_integers(serializer)
    if not serializer.is_valid():
        raise QueryValidationError(serializer.errors)
    return dict(serializer.validated_data)


def validate_body(
    serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any
) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict) and not hasattr(data, "getlist"):
        raise ValidationError({"non_field_errors": ["Expected a JSON object"]})
    serializer = serializer_class(data=data, **kwargs)
    bound_integers(serializer)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
