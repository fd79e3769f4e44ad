"""Reference resolution in bulk, and the graph a runner needs: team -> member bots -> each
bot's ghost, shell and model.

Both read a fixed number of queries whatever the number of rows: ``RowIndex.load`` is one
query, ``TeamContext`` two (the member bots, then their components).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kinds.models import DEFAULT_NAMESPACE, GROUP_SCOPE, PUBLIC_SCOPE, Kind, scope_for
from kinds.specs.bot import BotView
from kinds.specs.ghost import GhostView
from kinds.specs.shell import ShellView
from kinds.specs.team import MemberView, TeamView

BOT, GHOST, SHELL, MODEL = "Bot", "Ghost", "Shell", "Model"


def _ref_parts(ref: Any) -> tuple[str, str] | None:
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        namespace = ref.get("namespace")
        return ref["name"], namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE
    return None


class RowIndex:
    """Active rows loaded in one query, resolving references the way their owner sees them.

    A reference ``{name, namespace}`` made by a row owned by ``owner_id`` means: in ``default``
    the owner's own row, else the public one; in a group, the group's row.
    """

    def __init__(self, rows: Iterable[Kind]) -> None:
        self._rows = {(row.kind, row.namespace, row.scope, row.name): row for row in rows}

    @classmethod
    def load(cls, wanted: Iterable[tuple[str, Any, int | None]]) -> RowIndex:
        """Loads what each (kind, reference, owner id) may resolve to."""
        names: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
        for kind, ref, owner_id in wanted:
            parts = _ref_parts(ref)
            if parts is None:
                continue
            name, namespace = parts
            if namespace != DEFAULT_NAMESPACE:
                scopes: tuple[str, ...] = (GROUP_SCOPE,)
            elif owner_id is None:
                scopes = (PUBLIC_SCOPE,)
            else:
                scopes = (scope_for(namespace=namespace, owner_id=owner_id), PUBLIC_SCOPE)
            names.setdefault((kind, namespace, scopes), set()).add(name)
        if not names:
            return cls([])
        # One flat IN query (a small superset), filtered exactly below: an OR of one Q per
        # (kind, namespace, scopes) cost milliseconds just to compile (measured on /api/teams).
        # The scopes keep other users' rows of the same names out (every user may have a bot
        # called "assistant"; without them a chat's send loaded all of them).
        wanted_keys = {
            (kind, namespace, scope, name)
            for (kind, namespace, scopes), wanted_names in names.items()
            for scope in scopes
            for name in wanted_names
        }
        candidates = Kind.objects.filter(
            kind__in=sorted({key[0] for key in wanted_keys}),
            namespace__in=sorted({key[1] for key in wanted_keys}),
            scope__in=sorted({key[2] for key in wanted_keys}),
            name__in=sorted({key[3] for key in wanted_keys}),
            is_active=True,
        )
        # Resolution needs only owner_id; owners are loaded lazily where a caller needs one.
        return cls(row for row in candidates if (row.kind, row.namespace, row.scope, row.name) in wanted_keys)

    def resolve(self, kind: str, ref: Any, owner_id: int | None) -> Kind | None:
        parts = _ref_parts(ref)
        if parts is None:
            return None
        name, namespace = parts
        if namespace != DEFAULT_NAMESPACE:
            return self._rows.get((kind, namespace, GROUP_SCOPE, name))
        if owner_id is not None:
            own = self._rows.get((kind, namespace, scope_for(namespace=namespace, owner_id=owner_id), name))
            if own is not None:
                return own
        return self._rows.get((kind, namespace, PUBLIC_SCOPE, name))


def _component_refs(bots: Iterable[Kind]) -> list[tuple[str, Any, int | None]]:
    """What ``RowIndex.load`` needs to resolve each bot's ghost, shell and model."""
    wanted: list[tuple[str, Any, int | None]] = []
    for bot in bots:
        view = BotView.of(bot.spec)
        wanted += [
            (GHOST, view.ghost_ref, bot.owner_id),
            (SHELL, view.shell_ref, bot.owner_id),
            (MODEL, view.model_ref, bot.owner_id),
        ]
    return wanted


def load_components(bots: Iterable[Kind]) -> RowIndex:
    """Ghosts, shells and models of ``bots``, in one query."""
    return RowIndex.load(_component_refs(bots))


def shell_type(shell: Kind | None) -> str:
    return ShellView.of(shell.spec).shell_type if shell is not None else ""


def execution_type(shell: Kind | None) -> str | None:
    """The shell's ``type`` label (``local_engine``, ``external_api``...), if any."""
    metadata = shell.document.get("metadata") if shell is not None else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return labels.get("type") if isinstance(labels, dict) else None


def team_bots(teams: Iterable[Kind]) -> RowIndex:
    """The member bots of ``teams``, each as its team's owner sees it, in one query."""
    return RowIndex.load(
        (BOT, member.bot_ref, team.owner_id) for team in teams for member in TeamView.of(team.spec).members
    )


class TeamContext:
    """The bots of some teams and those bots' ghosts, shells and models, in two queries."""

    def __init__(self, teams: list[Kind]) -> None:
        self.bots = team_bots(teams)
        self.components = load_components(bot for team in teams for _, bot in self.members(team))

    def member_views(self, team: Kind) -> list[tuple[MemberView, Kind]]:
        """(member, bot row) for each member whose bot resolves, in the team's order."""
        resolved = []
        for member in TeamView.of(team.spec).members:
            bot = self.bots.resolve(BOT, member.bot_ref, team.owner_id)
            if bot is not None:
                resolved.append((member, bot))
        return resolved

    def members(self, team: Kind) -> list[tuple[dict[str, Any], Kind]]:
        """(member as stored, bot row) for each member whose bot resolves."""
        return [(member.raw, bot) for member, bot in self.member_views(team)]

    def shell(self, bot: Kind) -> Kind | None:
        return self.components.resolve(SHELL, BotView.of(bot.spec).shell_ref, bot.owner_id)

    def shell_type(self, bot: Kind) -> str:
        return shell_type(self.shell(bot))

    def ghost(self, bot: Kind) -> Kind | None:
        return self.components.resolve(GHOST, BotView.of(bot.spec).ghost_ref, bot.owner_id)

    def model(self, bot: Kind) -> Kind | None:
        return self.components.resolve(MODEL, BotView.of(bot.spec).model_ref, bot.owner_id)

    def skills(self, team: Kind) -> tuple[list[str], list[str]]:
        """Skills and preload skills over the ghosts of the team's bots (first seen first)."""
        skills: list[str] = []
        preload: list[str] = []
        for _, bot in self.members(team):
            ghost = self.ghost(bot)
            if ghost is not None:
                view = GhostView.of(ghost.spec)
                skills += view.skills
                preload += view.preload_skills
        return dedupe(skills), dedupe(preload)


def dedupe(values: Iterable[str]) -> list[str]:
    """The values in first-seen order, each once."""
    return list(dict.fromkeys(values))
