"""References between Kinds: extracting them, checking they resolve, recording the edges."""

from __future__ import annotations

from typing import Any

from django.db import connection

from accounts.models import User
from kinds import selectors
from kinds.exceptions import DeactivatedResource, KindNotFound
from kinds.models import DEFAULT_NAMESPACE, Kind, KindReference


def _ref(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"], value.get("namespace") or DEFAULT_NAMESPACE
    return None


def outgoing(kind: str, document: dict[str, Any], namespace: str) -> list[tuple[str, str, str]]:
    """(target kind, namespace, name) for every reference in a normalised document."""
    spec = document.get("spec") or {}
    targets: list[tuple[str, str, str]] = []
    if kind == "Bot":
        for key, target_kind in (("ghostRef", "Ghost"), ("shellRef", "Shell"), ("modelRef", "Model")):
            ref = _ref(spec.get(key))
            if ref:
                targets.append((target_kind, ref[1], ref[0]))
    elif kind == "Team":
        for member in spec.get("members") or []:
            ref = _ref(member.get("botRef") if isinstance(member, dict) else None)
            if ref:
                targets.append(("Bot", ref[1], ref[0]))
    elif kind == "Ghost":
        for skill in spec.get("skills") or []:
            if isinstance(skill, str):
                targets.append(("Skill", namespace, skill))
    return targets


def check(
    *,
    actor: User | None,
    kind: str,
    document: dict[str, Any],
    namespace: str,
    previous: dict[str, Any] | None = None,
) -> None:
    """Raises 404 for a reference that does not resolve for ``actor`` (None: public rows).

    Bots need their Ghost and Shell, Teams their Bots, Ghosts their Skills; a Bot's modelRef
    is not checked (models may be added later, as in the reference). A reference that is new
    (not in ``previous``, the document being replaced) must not resolve to a public row an
    admin has deactivated: 400. References kept from ``previous`` stay valid.
    """
    kept = set(outgoing(kind, previous, namespace)) if previous is not None else set()
    missing_skills: list[str] = []
    for target in outgoing(kind, document, namespace):
        target_kind, target_ns, target_name = target
        if target_kind == "Skill":  # public skills are managed apart and never deactivated
            if not _skill_exists(actor, target_name, target_ns):
                missing_skills.append(target_name)
            continue
        if target_kind == "Model" and target in kept:
            continue
        row = selectors.resolve(actor, target_kind, target_name, target_ns)
        if row is None:
            if target_kind == "Model":
                continue
            raise KindNotFound(f"{target_kind} '{target_name}' not found in namespace '{target_ns}'")
        if row.deactivated and target not in kept:
            raise DeactivatedResource(
                f"Public {target_kind} '{target_name}' is deactivated and cannot be chosen"
            )
    if missing_skills:
        raise KindNotFound(f"The following Skills do not exist: {', '.join(missing_skills)}")


def _skill_exists(actor: User | None, name: str, namespace: str) -> bool:
    if selectors.resolve(actor, "Skill", name, namespace) is not None:
        return True
    # Group ghosts may also use the public skills.
    return namespace != DEFAULT_NAMESPACE and selectors.public_row("Skill", name) is not None


def sync(row: Kind, *, fresh: bool = False) -> None:
    """Replaces the recorded edges of ``row`` with those of its current document.

    ``fresh``: the row was inserted in this transaction, so it has no edges to remove yet.
    """
    if not fresh:
        KindReference.objects.filter(source=row).delete()
    edges = [
        KindReference(source=row, target_kind=k, target_namespace=ns, target_name=name)
        for k, ns, name in outgoing(row.kind, row.document, row.namespace)
    ]
    if edges:  # bulk_create opens a transaction even for none
        KindReference.objects.bulk_create(edges)


def has_referrers(row: Kind) -> bool:
    """Whether ``selectors.referrers(row)`` would find any, in one fixed statement.

    Deleting is the common case and is rarely refused: this answers it without the ORM cost of
    the full referrer query (run only to word a refusal). Same rule: edges to the row's
    identity from other active rows, of the row's owner when it is a personal row.
    """
    quote = connection.ops.quote_name
    edges, kinds = quote(KindReference._meta.db_table), quote(Kind._meta.db_table)
    sql = (
        f"SELECT 1 FROM {edges} e INNER JOIN {kinds} s ON s.id = e.source_id "
        "WHERE e.target_kind = %s AND e.target_namespace = %s AND e.target_name = %s "
        "AND s.is_active = %s AND s.id <> %s"
    )
    params: list[Any] = [row.kind, row.namespace, row.name, True, row.pk]
    if row.namespace == DEFAULT_NAMESPACE and row.owner_id is not None:
        sql += " AND s.owner_id = %s"
        params.append(row.owner_id)
    with connection.cursor() as cursor:
        cursor.execute(sql + " LIMIT 1", params)
        return cursor.fetchone() is not None


_REF_FIELDS = {"Bot": (("ghostRef", "Ghost"), ("shellRef", "Shell"), ("modelRef", "Model"))}


def complete_ref_namespaces(
    *, actor: User | None, kind: str, body: dict[str, Any], namespace: str
) -> dict[str, Any]:
    """Fills references that name no namespace, for resources written into a group.

    The reference always reads a missing namespace as ``default``, so a YAML applied to a group
    could not refer to its own siblings. Here a missing namespace means the resource's group when
    the target exists there, else ``default`` (own or public, e.g. the public ``Chat`` shell).
    """
    if namespace == DEFAULT_NAMESPACE or not isinstance(body.get("spec"), dict):
        return body
    spec = dict(body["spec"])

    def fill(ref: Any, target_kind: str) -> Any:
        if not isinstance(ref, dict) or ref.get("namespace") or not isinstance(ref.get("name"), str):
            return ref
        in_group = selectors.resolve(actor, target_kind, ref["name"], namespace) is not None
        return {**ref, "namespace": namespace if in_group else DEFAULT_NAMESPACE}

    if kind == "Bot":
        for key, target_kind in _REF_FIELDS["Bot"]:
            if key in spec:
                spec[key] = fill(spec[key], target_kind)
    elif kind == "Team" and isinstance(spec.get("members"), list):
        spec["members"] = [
            {**m, "botRef": fill(m.get("botRef"), "Bot")} if isinstance(m, dict) else m
            for m in spec["members"]
        ]
    return {**body, "spec": spec}
