"""``/api/share`` for knowledge bases: the link, its preview, joining with and without approval,
members by level (view reads, edit changes, manage shares; only the creator deletes), requests
and reviews, the caller's permission, and the refusals (strangers, group knowledge bases, other
resource types, bad input)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kinds.models import ResourceMember, ShareLink
from knowledge.tests import factories as f

pytestmark = pytest.mark.django_db

SHARE = "/api/share"
BASES = "/api/knowledge-bases"


def link_of(api: Any, kb_id: int, **body: Any) -> Any:
    return api.post(f"{SHARE}/KnowledgeBase/{kb_id}/link", body, format="json")


def test_link_preview_and_join_without_approval(user, other_user, client_for, anon_client):
    kb = f.make_kb(user, "Handbook")
    alice, bob = client_for(user), client_for(other_user)
    response = link_of(alice, kb.pk, require_approval=False, default_permission_level="view")
    assert response.status_code == 200, response.content
    link = response.json()
    assert link["resource_type"] == "KnowledgeBase" and link["resource_id"] == kb.pk
    assert link["share_url"].endswith(f"/shared/knowledge?token={link['share_token']}")
    assert link["require_approval"] is False and link["expires_at"] is None
    # Creating it again keeps the token and takes the new settings.
    again = link_of(alice, kb.pk, require_approval=False, expires_in_hours=2).json()
    assert again["share_token"] == link["share_token"] and again["expires_at"] is not None
    assert alice.get(f"{SHARE}/KNOWLEDGE_BASE/{kb.pk}/link").json()["id"] == link["id"]
    token = link["share_token"]

    assert bob.get(f"{BASES}/{kb.pk}").status_code == 404  # not yet
    info = bob.get(f"{SHARE}/info", {"share_token": token}).json()
    assert info["resource_name"] == "Handbook" and info["owner_user_name"] == user.user_name
    assert info["is_expired"] is False and info["default_permission_level"] == "view"
    card = bob.get(f"{SHARE}/public/knowledge", {"token": token}).json()
    assert card["id"] == kb.pk and card["creator_id"] == user.pk and card["require_approval"] is False

    # Asking for more than the link grants, with no reviewer, gives the link's level.
    joined = bob.post(
        f"{SHARE}/join", {"share_token": token, "requested_permission_level": "manage"}, format="json"
    )
    assert joined.status_code == 200, joined.content
    assert joined.json()["status"] == "approved" and joined.json()["resource_id"] == kb.pk
    member = ResourceMember.objects.get(pk=joined.json()["member_id"])
    assert member.permission_level == "view" and member.user_id == other_user.pk
    assert bob.get(f"{BASES}/{kb.pk}").status_code == 200
    assert kb.pk in [item["id"] for item in bob.get(BASES).json()["items"]]
    assert bob.put(f"{BASES}/{kb.pk}", {"description": "x"}, format="json").status_code == 403
    assert link_of(bob, kb.pk).status_code == 403  # view members do not share
    mine = bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/my-permission").json()
    assert mine == {
        "has_access": True,
        "permission_level": "view",
        "is_creator": False,
        "pending_request": None,
    }
    again = bob.post(f"{SHARE}/join", {"share_token": token}, format="json")
    assert again.status_code == 400 and "already" in again.json()["detail"]
    assert alice.post(f"{SHARE}/join", {"share_token": token}, format="json").status_code == 400

    # Revoking the link stops previews and joins; the member keeps access.
    assert alice.delete(f"{SHARE}/KnowledgeBase/{kb.pk}/link").status_code == 200
    assert bob.get(f"{SHARE}/info", {"share_token": token}).status_code == 404
    assert alice.get(f"{SHARE}/KnowledgeBase/{kb.pk}/link").status_code == 404
    assert bob.get(f"{BASES}/{kb.pk}").status_code == 200
    assert anon_client.get(f"{SHARE}/info", {"share_token": token}).status_code == 401


def test_approval_review_and_levels(user, other_user, make_user, client_for):
    carol = make_user("carol")
    kb = f.make_kb(user, "Private")
    alice, bob, carol_api = client_for(user), client_for(other_user), client_for(carol)
    token = link_of(alice, kb.pk).json()["share_token"]  # approval needed by default
    asked = bob.post(
        f"{SHARE}/join", {"share_token": token, "requested_permission_level": "edit"}, format="json"
    )
    assert asked.json()["status"] == "pending"
    assert bob.get(f"{BASES}/{kb.pk}").status_code == 404  # pending is no access
    mine = bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/my-permission").json()
    assert mine["has_access"] is False and mine["pending_request"]["permission_level"] == "edit"
    info = bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/share-info").json()
    assert info["name"] == "Private" and info["my_permission"]["pending_request"] is not None
    again = bob.post(f"{SHARE}/join", {"share_token": token}, format="json")
    assert again.status_code == 400 and "waiting" in again.json()["detail"]

    requests = alice.get(f"{SHARE}/KnowledgeBase/{kb.pk}/requests").json()
    assert requests["total"] == 1 and requests["requests"][0]["user_name"] == other_user.user_name
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/requests").status_code == 404  # cannot read it yet
    request_id = requests["requests"][0]["id"]
    review = f"{SHARE}/KnowledgeBase/{kb.pk}/requests/{request_id}/review"
    done = alice.post(review, {"approved": True}, format="json").json()
    assert done["new_status"] == "approved" and done["permission_level"] == "edit"
    assert alice.post(review, {"approved": True}, format="json").status_code == 404  # not pending now

    # edit: changes settings and documents, does not delete or share.
    assert bob.put(f"{BASES}/{kb.pk}", {"description": "by bob"}, format="json").status_code == 200
    assert bob.delete(f"{BASES}/{kb.pk}").status_code == 403
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/requests").status_code == 403
    added = bob.post(f"{SHARE}/KnowledgeBase/{kb.pk}/members", {"user_id": carol.pk}, format="json")
    assert added.status_code == 403

    # The owner raises bob to manage; bob then adds carol; carol can read.
    members = alice.get(f"{SHARE}/KnowledgeBase/{kb.pk}/members").json()
    bob_row = members["members"][0]
    assert members["total"] == 1 and bob_row["user_id"] == other_user.pk
    url = f"{SHARE}/KnowledgeBase/{kb.pk}/members/{bob_row['id']}"
    raised = alice.put(url, {"permission_level": "manage"}, format="json")
    assert raised.status_code == 200 and raised.json()["permission_level"] == "manage"
    added = bob.post(f"{SHARE}/KnowledgeBase/{kb.pk}/members", {"user_id": carol.pk}, format="json")
    assert added.status_code == 201, added.content
    assert (
        added.json()["status"] == "approved" and added.json()["invited_by_user_name"] == other_user.user_name
    )
    assert carol_api.get(f"{BASES}/{kb.pk}").status_code == 200
    dup = bob.post(f"{SHARE}/KnowledgeBase/{kb.pk}/members", {"user_id": carol.pk}, format="json")
    assert dup.status_code == 400
    # carol (view) leaves by herself; bob can no longer be removed by carol.
    carol_url = f"{SHARE}/KnowledgeBase/{kb.pk}/members/{added.json()['id']}"
    assert carol_api.delete(url).status_code == 403
    assert carol_api.delete(carol_url).status_code == 200
    assert carol_api.get(f"{BASES}/{kb.pk}").status_code == 404
    assert alice.delete(url).status_code == 200
    assert bob.get(f"{BASES}/{kb.pk}").status_code == 404


def test_rejection_and_expired_links(user, other_user, client_for):
    kb = f.make_kb(user)
    alice, bob = client_for(user), client_for(other_user)
    token = link_of(alice, kb.pk).json()["share_token"]
    member_id = bob.post(f"{SHARE}/join", {"share_token": token}, format="json").json()["member_id"]
    review = f"{SHARE}/KnowledgeBase/{kb.pk}/requests/{member_id}/review"
    rejected = alice.post(review, {"approved": False}, format="json").json()
    assert rejected["new_status"] == "rejected" and rejected["permission_level"] is None
    assert bob.get(f"{BASES}/{kb.pk}").status_code == 404
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/my-permission").status_code == 404
    # A rejected user may ask again.
    assert bob.post(f"{SHARE}/join", {"share_token": token}, format="json").json()["status"] == "pending"
    ShareLink.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert bob.get(f"{SHARE}/info", {"share_token": token}).json()["is_expired"] is True
    ResourceMember.objects.filter(pk=member_id).delete()
    expired = bob.post(f"{SHARE}/join", {"share_token": token}, format="json")
    assert expired.status_code == 400 and "expired" in expired.json()["detail"]


def test_refusals_and_bad_input(user, other_user, client_for, anon_client):
    kb = f.make_kb(user)
    alice, bob = client_for(user), client_for(other_user)
    assert link_of(bob, kb.pk).status_code == 404  # a stranger does not learn it exists
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/members").status_code == 404
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/my-permission").status_code == 404
    assert bob.get(f"{SHARE}/KnowledgeBase/{kb.pk}/share-info").status_code == 404
    assert link_of(alice, 999_999).status_code == 404
    assert anon_client.post(f"{SHARE}/KnowledgeBase/{kb.pk}/link", {}, format="json").status_code == 401
    assert alice.post(f"{SHARE}/Team/{kb.pk}/link", {}, format="json").status_code == 400
    assert link_of(alice, kb.pk, default_permission_level="owner").status_code == 422
    assert link_of(alice, kb.pk, expires_in_hours=0).status_code == 422
    assert alice.post(f"{SHARE}/join", {}, format="json").status_code == 422
    assert alice.post(f"{SHARE}/join", {"share_token": "forged"}, format="json").status_code == 400
    assert bob.get(f"{SHARE}/info", {"share_token": "x" * 200}).status_code == 400
    assert bob.get(f"{SHARE}/info").status_code == 422
    members = f"{SHARE}/KnowledgeBase/{kb.pk}/members"
    assert alice.post(members, {"user_id": 999_999}, format="json").status_code == 404
    assert alice.post(members, {"user_id": user.pk}, format="json").status_code == 400
    assert alice.post(members, {"user_id": "x"}, format="json").status_code == 422
    assert alice.put(f"{members}/999999", {"permission_level": "edit"}, format="json").status_code == 404
    assert alice.delete(f"{members}/999999").status_code == 404
    assert ResourceMember.objects.count() == 0
    # Group knowledge bases follow the group's members, not links.
    f.make_group("team", user)
    group_kb = f.make_kb(user, "Team docs", namespace="team")
    refused = link_of(alice, group_kb.pk)
    assert refused.status_code == 400 and "personal" in refused.json()["detail"]
    mine = alice.get(f"{SHARE}/KnowledgeBase/{group_kb.pk}/my-permission").json()
    assert mine["has_access"] is True and mine["is_creator"] is True


def test_deleting_the_knowledge_base_drops_its_members(user, other_user, client_for):
    kb = f.make_kb(user)
    alice = client_for(user)
    alice.post(f"{SHARE}/KnowledgeBase/{kb.pk}/members", {"user_id": other_user.pk}, format="json")
    assert ResourceMember.objects.filter(resource_id=kb.pk).count() == 1
    assert alice.delete(f"{BASES}/{kb.pk}").status_code == 204
    assert ResourceMember.objects.filter(resource_id=kb.pk).count() == 0
    assert client_for(other_user).get(f"{SHARE}/KnowledgeBase/{kb.pk}/my-permission").status_code == 404


def test_old_links_by_id_get_the_live_token(user, other_user, client_for, anon_client):
    """``/share/public/knowledge/redirect?kb_id=``: the token of the live link for links that
    carried the id; signed-in callers only (the reference answers anyone)."""
    kb = f.make_kb(user, "Handbook")
    alice, bob = client_for(user), client_for(other_user)
    url = f"{SHARE}/public/knowledge/redirect"
    assert bob.get(url, {"kb_id": kb.pk}).status_code == 404  # no link yet
    token = link_of(alice, kb.pk).json()["share_token"]
    response = bob.get(url, {"kb_id": kb.pk})
    assert response.status_code == 200 and response.json() == {"share_token": token}
    assert anon_client.get(url, {"kb_id": kb.pk}).status_code == 401
    for bad in ({"kb_id": "abc"}, {"kb_id": 0}, {}):
        assert bob.get(url, bad).status_code in (400, 422)
    ShareLink.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert bob.get(url, {"kb_id": kb.pk}).status_code == 404  # expired
    assert alice.delete(f"{SHARE}/KnowledgeBase/{kb.pk}/link").status_code in (200, 204)
    assert bob.get(url, {"kb_id": kb.pk}).status_code == 404
    assert bob.get(url, {"kb_id": 987654}).status_code == 404
