"""The kubectl-style flow end to end over HTTP on a live uvicorn server, as the CLI drives it."""

from __future__ import annotations

import httpx
import pytest
import yaml

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from accounts.tests.factories import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

STACK_YAML = """
apiVersion: agent.wecode.io/v1
kind: Ghost
metadata: {name: flow-ghost}
spec: {systemPrompt: "You answer briefly."}
---
apiVersion: agent.wecode.io/v1
kind: Shell
metadata: {name: flow-shell, labels: {type: direct_chat}}
spec: {shellType: Chat, supportModel: [openai]}
---
apiVersion: agent.wecode.io/v1
kind: Model
metadata: {name: flow-model}
spec:
  modelConfig: {env: {model: openai, model_id: gpt-x, api_key: sk-flow-secret-987654, base_url: "http://127.0.0.1:9/v1"}}
  protocol: openai
---
apiVersion: agent.wecode.io/v1
kind: Bot
metadata: {name: flow-bot}
spec:
  ghostRef: {name: flow-ghost}
  shellRef: {name: flow-shell}
  modelRef: {name: flow-model}
---
apiVersion: agent.wecode.io/v1
kind: Team
metadata: {name: flow-team}
spec:
  members: [{botRef: {name: flow-bot}, role: leader}]
  collaborationModel: solo
"""


def _login(client: httpx.Client, user_name: str) -> dict[str, str]:
    token = client.post("/api/auth/login", json={"user_name": user_name, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.mark.parametrize("namespace", ["default", "flow-group"])
def test_kubectl_style_flow(live_server_url, make_user, namespace):
    dana = make_user("dana")
    if namespace != "default":
        group = Group.objects.create(name=namespace, owner=dana)
        GroupMember.objects.create(group=group, user=dana, role=GroupRole.OWNER)
    base = f"/api/v1/namespaces/{namespace}"
    with httpx.Client(base_url=live_server_url, timeout=15) as client:
        auth = _login(client, "dana")

        # Dry run of a multi-document YAML: everything validates, nothing is written.
        dry = client.post(
            f"{base}/apply?dryRun=true",
            content=STACK_YAML,
            headers={**auth, "content-type": "application/yaml"},
        ).json()
        assert dry["success"] is True and dry["dryRun"] is True
        assert client.get(f"{base}/teams", headers=auth).json()["items"] == []

        # Apply for real, the way the CLI does (a JSON array).
        documents = list(yaml.safe_load_all(STACK_YAML))
        applied = client.post(f"{base}/apply", json=documents, headers=auth).json()
        assert applied["message"] == "Applied 5/5 resources", applied
        assert {r["operation"] for r in applied["results"]} == {"created"}

        team = client.get(f"{base}/teams/flow-team", headers=auth)
        assert team.status_code == 200
        assert team.json()["metadata"]["namespace"] == namespace
        model = client.get(f"{base}/models/flow-model", headers=auth).text
        assert "sk-flow-secret" not in model

        # Update with the current resourceVersion, then with the stale one.
        ghost = client.get(f"{base}/ghosts/flow-ghost", headers=auth).json()
        ghost["spec"]["systemPrompt"] = "You answer in detail."
        assert client.put(f"{base}/ghosts/flow-ghost", json=ghost, headers=auth).status_code == 200
        ghost["spec"]["systemPrompt"] = "A stale write."
        stale = client.put(f"{base}/ghosts/flow-ghost", json=ghost, headers=auth)
        assert stale.status_code == 409
        # Without resourceVersion (older clients) the write goes through.
        ghost["metadata"].pop("resourceVersion")
        assert client.put(f"{base}/ghosts/flow-ghost", json=ghost, headers=auth).status_code == 200

        # Deleting something a Bot still uses is refused with the referrers.
        refused = client.delete(f"{base}/ghosts/flow-ghost", headers=auth)
        assert refused.status_code == 409
        assert refused.json()["referrers"] == [{"kind": "Bot", "namespace": namespace, "name": "flow-bot"}]

        # Batch delete of the whole stack succeeds (referrers go first).
        deleted = client.post(f"{base}/delete", json=documents, headers=auth).json()
        assert deleted["success"] is True, deleted
        assert client.get(f"{base}/bots", headers=auth).json()["items"] == []

        # Another user sees none of it and cannot write into the group.
        make_user("eve")
        eve = _login(client, "eve")
        assert client.get(f"{base}/ghosts/flow-ghost", headers=eve).status_code == 404
        if namespace != "default":
            denied = client.post(f"{base}/apply", json=documents[:1], headers=eve).json()
            assert denied["success"] is False
