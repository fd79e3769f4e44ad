"""Guards over every request serializer of the project at once (found by the fuzzer).

``Child(many=True, allow_null=True)`` lets each item be null as well as the list (DRF hands
``allow_null`` to the child), so ``[null]`` passed validation and a view that read the items as
objects failed with a 500. A nullable list of objects is ``nullable_list(Child())``.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import get_resolver
from rest_framework import serializers

from wegent.api.validation import nullable_list

PROJECT_PACKAGES = ("wegent", "accounts", "kinds", "tasks", "knowledge", "chat", "devices", "subscriptions")


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _project_serializers() -> list[type[serializers.Serializer]]:
    assert get_resolver().url_patterns  # imports every API module: every serializer is defined
    found = {
        cls
        for cls in _subclasses(serializers.Serializer)
        if cls.__module__.split(".")[0] in PROJECT_PACKAGES and ".tests" not in cls.__module__
    }
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _null_items(field: serializers.Field, where: str) -> Iterator[str]:
    if isinstance(field, serializers.ListSerializer):
        if field.child.allow_null:
            yield where
        yield from _null_items(field.child, f"{where}[]")
    elif isinstance(field, serializers.Serializer):
        for name, child in field.fields.items():
            yield from _null_items(child, f"{where}.{name}")


def test_no_list_of_objects_accepts_null_items():
    checked, offenders = 0, []
    for cls in _project_serializers():
        try:
            instance = cls()
            fields = instance.fields
        except Exception:  # noqa: BLE001 - a serializer that needs arguments is not a request body
            continue
        checked += 1
        for name, field in fields.items():
            offenders.extend(_null_items(field, f"{cls.__module__}.{cls.__qualname__}.{name}"))
    assert checked > 50
    assert offenders == []


def test_the_guard_sees_the_defect():
    class Item(serializers.Serializer):
        name = serializers.CharField()

    class Defect(serializers.Serializer):
        items = Item(many=True, allow_null=True)

    class Fixed(serializers.Serializer):
        items = nullable_list(Item(), required=False)

    assert list(_null_items(Defect().fields["items"], "items")) == ["items"]
    assert list(_null_items(Fixed().fields["items"], "items")) == []
    assert not Fixed(data={"items": [None]}).is_valid()
    assert Fixed(data={"items": None}).is_valid()
