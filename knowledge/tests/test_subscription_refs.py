"""A subscription's ``knowledgeBaseRefs`` as the knowledge bases its runs search
(``knowledge.selectors.kb_ids_for_refs``): by id or by Kind name and namespace, only those the
owner may read now."""

from __future__ import annotations

import pytest

from kinds.models import ResourceMember
from knowledge import selectors
from knowledge.tests import factories as f

pytestmark = pytest.mark.django_db


def test_refs_resolve_to_readable_knowledge_bases(user, other_user):
    mine = f.make_kb(user, "Mine")
    theirs = f.make_kb(other_user, "Theirs")
    shared = f.make_kb(other_user, "Shared")
    ResourceMember.objects.create(
        resource_type="KnowledgeBase", resource_id=shared.pk, user=user, status="approved"
    )
    f.make_group("team", other_user, alice="Reporter")
    group_kb = f.make_kb(other_user, "Group", namespace="team")
    refs = [
        {"name": mine.name, "namespace": "default"},
        {"id": theirs.pk},  # not readable: left out
        {"id": shared.pk},
        {"name": group_kb.name, "namespace": "team"},
        {"name": "kb-nope", "namespace": "default"},
        {"id": True},
        "garbage",
        {"name": mine.name},  # a duplicate (namespace defaults to default)
        {"id": 2**70},
    ]
    assert selectors.kb_ids_for_refs(user, refs) == (mine.pk, shared.pk, group_kb.pk)
    assert selectors.kb_ids_for_refs(user, None) == ()
    assert selectors.kb_ids_for_refs(other_user, refs) == (theirs.pk, shared.pk, group_kb.pk)
