"""Following: discover, follow/unfollow, followers, settings, invitations and the timeline."""

from __future__ import annotations

import pytest

from subscriptions.models import SubscriptionFollow
from subscriptions.services import executions
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db
URL = "/api/subscriptions"


@pytest.fixture
def bob(client_for, other_user):  # type: ignore[no-untyped-def]
    return client_for(other_user)


def test_discover_follow_and_timeline(api, bob, user, other_user, team) -> None:  # type: ignore[no-untyped-def]
    public = make_subscription(user, team, name="news", visibility="public", display_name="Morning news")
    make_subscription(user, team, name="secret")
    found = bob.get(f"{URL}/discover").json()
    assert found["total"] == 1 and found["items"][0]["id"] == public.pk
    assert found["items"][0]["is_following"] is False and found["items"][0]["owner_username"] == "alice"
    assert bob.get(f"{URL}/discover", {"search": "morning"}).json()["total"] == 1
    assert bob.get(f"{URL}/discover", {"search": "nothing"}).json()["total"] == 0
    assert bob.get(f"{URL}/discover", {"sort_by": "loudest"}).status_code == 422

    assert (
        bob.post(f"{URL}/{public.pk}/follow", {"notification_level": "notify"}, format="json").status_code
        == 200
    )
    assert bob.post(f"{URL}/{public.pk}/follow", {}, format="json").status_code == 400  # already
    assert bob.get(f"{URL}/discover").json()["items"][0]["is_following"] is True
    assert bob.get(f"{URL}/{public.pk}/followers/count").json() == {"count": 1}
    followers = api.get(f"{URL}/{public.pk}/followers").json()
    assert followers["total"] == 1 and followers["items"][0]["username"] == "bob"
    assert bob.get(f"{URL}/{public.pk}/followers").status_code == 404  # owner only
    assert api.get(f"{URL}/{public.pk}").json()["followers_count"] == 1

    # The follower's timeline carries the subscription's executions.
    execution = executions.trigger_now(public)
    timeline = bob.get(f"{URL}/executions").json()
    assert [item["id"] for item in timeline["items"]] == [execution.pk]
    following = bob.get("/api/users/me/following-subscriptions").json()
    assert following["total"] == 1 and following["items"][0]["subscription"]["id"] == public.pk

    settings = bob.get(f"{URL}/{public.pk}/follow/settings").json()
    assert settings["notification_level"] == "notify" and settings["available_channels"] == []
    changed = bob.put(f"{URL}/{public.pk}/follow/settings", {"notification_level": "silent"}, format="json")
    assert changed.json()["notification_level"] == "silent"
    assert (
        bob.put(
            f"{URL}/{public.pk}/follow/settings", {"notification_level": "loud"}, format="json"
        ).status_code
        == 422
    )
    assert (
        bob.put(
            f"{URL}/{public.pk}/follow/settings", {"notification_channel_ids": [3]}, format="json"
        ).status_code
        == 400
    )

    assert bob.delete(f"{URL}/{public.pk}/follow").status_code == 200
    assert bob.delete(f"{URL}/{public.pk}/follow").status_code == 404
    assert bob.get(f"{URL}/executions").json()["total"] == 0


def test_follow_rules(api, bob, user, team) -> None:  # type: ignore[no-untyped-def]
    private = make_subscription(user, team, name="private")
    public = make_subscription(user, team, name="public", visibility="public")
    assert bob.post(f"{URL}/{private.pk}/follow", {}, format="json").status_code == 404  # cannot see it
    assert api.post(f"{URL}/{public.pk}/follow", {}, format="json").status_code == 400  # own
    assert bob.post(f"{URL}/999999/follow", {}, format="json").status_code == 404
    assert bob.get(f"{URL}/{public.pk}/follow/settings").status_code == 404  # not following
    assert not SubscriptionFollow.objects.exists()


def test_developer_notification_settings_are_the_owners(api, bob, user, team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team)
    assert (
        api.get(f"{URL}/{sub.pk}/developer/notification-settings").json()["notification_level"] == "default"
    )
    response = api.put(
        f"{URL}/{sub.pk}/developer/notification-settings", {"notification_level": "silent"}, format="json"
    )
    assert response.json()["notification_level"] == "silent"
    assert bob.get(f"{URL}/{sub.pk}/developer/notification-settings").status_code == 404
    assert bob.put(f"{URL}/{sub.pk}/developer/notification-settings", {}, format="json").status_code == 404


def test_invitations_accept_reject_revoke(api, bob, user, other_user, make_user, client_for, team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team, name="private")
    invited = api.post(f"{URL}/{sub.pk}/invite", {"user_id": other_user.pk}, format="json")
    assert invited.status_code == 200 and invited.json()["invitation_status"] == "pending"
    assert api.post(f"{URL}/{sub.pk}/invite", {"user_id": other_user.pk}, format="json").status_code == 400
    assert api.post(f"{URL}/{sub.pk}/invite", {"user_id": user.pk}, format="json").status_code == 400
    assert api.post(f"{URL}/{sub.pk}/invite", {"user_id": 987654}, format="json").status_code == 404
    assert api.post(f"{URL}/{sub.pk}/invite", {}, format="json").status_code == 400
    assert bob.post(f"{URL}/{sub.pk}/invite", {"user_id": user.pk}, format="json").status_code == 404
    assert api.get(f"{URL}/{sub.pk}/invitations").json()["total"] == 1

    mine = bob.get("/api/users/me/subscription-invitations").json()
    assert mine["total"] == 1
    invitation_id = mine["items"][0]["id"]
    carol = client_for(make_user("carol"))
    assert carol.post(f"/api/subscription-invitations/{invitation_id}/accept").status_code == 404
    assert bob.get(f"{URL}/executions/{executions.trigger_now(sub).pk}").status_code == 404  # not yet
    assert bob.post(f"/api/subscription-invitations/{invitation_id}/accept").status_code == 200
    assert bob.post(f"/api/subscription-invitations/{invitation_id}/reject").status_code == 400  # answered
    assert bob.get(f"{URL}/executions").json()["total"] == 1  # the private subscription's run
    assert bob.get("/api/users/me/subscription-invitations").json()["total"] == 0

    assert api.delete(f"{URL}/{sub.pk}/invite/{other_user.pk}").status_code == 200
    assert api.delete(f"{URL}/{sub.pk}/invite/{other_user.pk}").status_code == 404
    assert bob.get(f"{URL}/executions").json()["total"] == 0


def test_a_rejected_invitation_gives_no_access(api, bob, user, other_user, team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team, name="private")
    api.post(f"{URL}/{sub.pk}/invite", {"user_id": other_user.pk}, format="json")
    invitation_id = bob.get("/api/users/me/subscription-invitations").json()["items"][0]["id"]
    assert bob.post(f"/api/subscription-invitations/{invitation_id}/reject").status_code == 200
    executions.trigger_now(sub)
    assert bob.get(f"{URL}/executions").json()["total"] == 0
    # The owner may invite again after a rejection.
    assert api.post(f"{URL}/{sub.pk}/invite", {"user_id": other_user.pk}, format="json").status_code == 200


def test_follow_routes_need_credentials(anon_client) -> None:  # type: ignore[no-untyped-def]
    for method, url in [
        ("get", f"{URL}/discover"),
        ("post", f"{URL}/1/follow"),
        ("get", "/api/users/me/following-subscriptions"),
        ("get", "/api/users/me/subscription-invitations"),
        ("post", "/api/subscription-invitations/1/accept"),
    ]:
        assert getattr(anon_client, method)(url).status_code == 401


def test_invite_a_namespace_invites_its_members(
    api, bob, user, other_user, make_user, client_for, team
) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import Group, GroupMember
    from accounts.roles import GroupRole

    sub = make_subscription(user, team, name="private")
    carol = make_user("carol")
    group = Group.objects.create(name="ops", owner=user)
    for member, role in (
        (user, GroupRole.OWNER),
        (other_user, GroupRole.DEVELOPER),
        (carol, GroupRole.REPORTER),
    ):
        GroupMember.objects.create(group=group, user=member, role=role)
    elsewhere = Group.objects.create(name="elsewhere", owner=carol)
    GroupMember.objects.create(group=elsewhere, user=carol, role=GroupRole.OWNER)

    invited = api.post(f"{URL}/{sub.pk}/invite-namespace", {"namespace_id": group.pk}, format="json")
    assert invited.status_code == 200 and invited.json()["invited_count"] == 2
    assert (
        api.post(f"{URL}/{sub.pk}/invite-namespace", {"namespace_id": group.pk}, format="json").status_code
        == 400
    )
    assert (
        api.post(
            f"{URL}/{sub.pk}/invite-namespace", {"namespace_id": elsewhere.pk}, format="json"
        ).status_code
        == 404
    )
    assert (
        api.post(f"{URL}/{sub.pk}/invite-namespace", {"namespace_id": "x"}, format="json").status_code == 422
    )
    assert (
        bob.post(f"{URL}/{sub.pk}/invite-namespace", {"namespace_id": group.pk}, format="json").status_code
        == 404
    )
    assert bob.get("/api/users/me/subscription-invitations").json()["total"] == 1
    assert client_for(carol).get("/api/users/me/subscription-invitations").json()["total"] == 1

    assert api.delete(f"{URL}/{sub.pk}/invite-namespace/{group.pk}").status_code == 200
    assert api.delete(f"{URL}/{sub.pk}/invite-namespace/{group.pk}").status_code == 404
    assert bob.get("/api/users/me/subscription-invitations").json()["total"] == 0
