"""The skills tool source (``chat.tools.skills``): which skills a turn gets, ``load_skill``,
preloaded instructions, declared browser tools, and what cannot be offered.

Real rows and real archives through the skills service; the source reads them in the realtime
database threads, hence transactional tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from chat.tools import skills as skill_tools
from chat.tools.base import ToolError, TurnContext
from chat.tools.sources import SOURCES, open_toolbox
from kinds.specs.ghost import GhostView
from kinds.tests.factories import make_skill

pytestmark = pytest.mark.django_db(transaction=True)


def _ghost(skills: list[str] | None = None, preload: list[str] | None = None) -> GhostView:
    return GhostView.of({"systemPrompt": "hi", "skills": skills, "preload_skills": preload})


def _ctx(user: Any, namespace: str = "default", additional: tuple[str, ...] = ()) -> TurnContext:
    return TurnContext(
        user_id=user.pk,
        user_name=user.user_name,
        task_id=1,
        subtask_id=2,
        team_namespace=namespace,
        additional_skills=additional,
    )


def _toolbox(ctx: TurnContext, ghost: Any):  # type: ignore[no-untyped-def]
    async def opened():  # type: ignore[no-untyped-def]
        toolbox = await open_toolbox(ctx, ghost)
        await toolbox.aclose()
        return toolbox

    return asyncio.run(opened())


def _load(toolbox: Any, name: Any) -> str:
    return asyncio.run(toolbox.tools["load_skill"].run({"skill_name": name}))


@pytest.fixture
def group(user):  # type: ignore[no-untyped-def]
    group = Group.objects.create(name="team-a", owner=user)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.OWNER, invited_by=user)
    return group


def test_the_source_is_registered():
    assert skill_tools.skill_source in SOURCES


def test_skills_resolve_own_then_group_then_public(user, other_user, admin_user, group):
    make_skill(user, "pdf", "Own pdf steps.")
    make_skill(user, "pdf", "Group pdf steps.", namespace="team-a")
    make_skill(user, "grp-only", "Group only steps.", namespace="team-a")
    make_skill(admin_user, "pdf", "Public pdf steps.", public=True)
    make_skill(admin_user, "pub-only", "Public only steps.", public=True)
    ghost = _ghost(["pdf", "grp-only", "pub-only", "nope"])

    toolbox = _toolbox(_ctx(user, "team-a"), ghost)
    assert _load(toolbox, "pdf") == "Own pdf steps."
    assert _load(toolbox, "grp-only") == "Group only steps."
    assert _load(toolbox, "pub-only") == "Public only steps."
    assert [(p.source, p.message) for p in toolbox.problems] == [("skill:nope", "Skill 'nope' was not found")]
    assert "- pdf: Does useful things" in toolbox.tools["load_skill"].spec.description

    # Bob is not in the group: its skill is not his, the public pdf is.
    toolbox = _toolbox(_ctx(other_user, "team-a"), ghost)
    assert _load(toolbox, "pdf") == "Public pdf steps."
    assert {p.source for p in toolbox.problems} == {"skill:grp-only", "skill:nope"}


def test_unknown_skill_is_a_tool_error_the_model_reads(user):
    make_skill(user, "pdf")
    toolbox = _toolbox(_ctx(user), _ghost(["pdf"]))
    with pytest.raises(ToolError) as caught:
        _load(toolbox, "excel")
    assert caught.value.message == "Unknown skill 'excel'. Available skills: pdf"
    with pytest.raises(ToolError, match="Unknown skill 42"):
        _load(toolbox, 42)


def test_no_skills_no_load_skill(user):
    toolbox = _toolbox(_ctx(user), _ghost())
    assert toolbox.tools == {} and toolbox.problems == []
    toolbox = _toolbox(_ctx(user), None)
    assert toolbox.tools == {}


def test_additional_skills_join_the_ghost_ones(user):
    make_skill(user, "pdf", "Pdf steps.")
    make_skill(user, "extra", "Extra steps.")
    toolbox = _toolbox(_ctx(user, additional=("extra",)), None)
    assert _load(toolbox, "extra") == "Extra steps."
    with pytest.raises(ToolError):
        _load(toolbox, "pdf")


def test_preloaded_instructions_go_to_the_prompt(user):
    make_skill(user, "pdf", "Pdf steps.")
    make_skill(user, "chart", "Chart steps.")
    make_skill(user, "extra", "Extra steps.")
    ghost = _ghost(["pdf", "chart"], ["chart"])
    prompt = asyncio.run(skill_tools.skill_prompt(_ctx(user, additional=("extra",)), ghost))
    assert '<skill name="chart">\nChart steps.\n</skill>' in prompt
    assert '<skill name="extra">\nExtra steps.\n</skill>' in prompt
    assert "Pdf steps." not in prompt
    assert asyncio.run(skill_tools.skill_prompt(_ctx(user), _ghost(["pdf"]))) == ""


def test_instructions_are_bounded(user):
    body = "x" * (skill_tools.MAX_INSTRUCTIONS_CHARS + 500)
    make_skill(user, "big", body)
    text = _load(_toolbox(_ctx(user), _ghost(["big"])), "big")
    assert text.startswith("x" * skill_tools.MAX_INSTRUCTIONS_CHARS)
    assert text.endswith("[... 500 more characters not shown]")


def test_declared_browser_tools_are_offered_and_others_reported(user):
    tools = [
        {
            "name": "render_mermaid",
            "provider": "browser",
            "config": {
                "action": "render",
                "description": "Renders a Mermaid diagram.",
                "parameters": {"type": "object", "properties": {"code": {"type": "string"}}},
            },
        },
        {"name": "exec", "provider": "SandboxProvider"},
        {"name": "bad name!", "provider": "browser"},
    ]
    make_skill(
        user,
        "mermaid-diagram",
        "Draw.",
        tools=tools,
        mcpServers={"kb": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"}},
    )
    toolbox = _toolbox(_ctx(user), _ghost(["mermaid-diagram"]))
    assert set(toolbox.tools) == {"load_skill", "render_mermaid"}
    spec = toolbox.tools["render_mermaid"].spec
    assert spec.description.startswith("Renders a Mermaid diagram.")
    assert spec.parameters["properties"] == {"code": {"type": "string"}}
    messages = [p.message for p in toolbox.problems]
    assert messages[0] == "Tools of skill 'mermaid-diagram' that this server cannot run: exec, 'bad name!'"
    # The skill's own MCP servers are connected like the Ghost's (here refused: loopback is not
    # on the allow-list), under ``<skill>.<server>``.
    assert messages[1].startswith("MCP server mermaid-diagram.kb: Refused 127.0.0.1")


def test_a_skills_own_mcp_servers_become_tools_of_the_turn(user, settings):
    from chat.tests.fake_mcp import FakeMCPServer

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeMCPServer() as server:
        servers = {"kb": {"type": "streamable-http", "url": server.streamable_url}}
        make_skill(user, "kb-skill", "Search the base.", mcpServers=servers)

        async def opened_and_called() -> tuple[set[str], str]:
            toolbox = await open_toolbox(_ctx(user), _ghost(["kb-skill"]))
            try:
                return set(toolbox.tools), await toolbox.tools["echo"].run({"text": "hi"})
            finally:
                await toolbox.aclose()

        names, echoed = asyncio.run(opened_and_called())
        assert {"load_skill", "echo", "fail", "hang"} <= names
        assert echoed == "echo: hi"
        assert server.wait_ended(1)
