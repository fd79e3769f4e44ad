"""Who may do what in a namespace: ``default`` is the caller's own; groups use the role table.

One table for every Kind route (generic API, adapters, skills), from DESIGN.md section 6:
read needs Reporter, create and update Developer, delete Maintainer (effective role, so a role
in a parent group counts in its sub-groups).
"""

from __future__ import annotations

from accounts import selectors as account_selectors
from accounts.models import User
from accounts.roles import GroupRole, role_at_least
from kinds.models import DEFAULT_NAMESPACE

READ, CREATE, UPDATE, DELETE = "read", "create", "update", "delete"
REQUIRED_ROLE = {
    READ: GroupRole.REPORTER,
    CREATE: GroupRole.DEVELOPER,
    UPDATE: GroupRole.DEVELOPER,
    DELETE: GroupRole.MAINTAINER,
}


def is_personal(namespace: str) -> bool:
    return namespace == DEFAULT_NAMESPACE


def can(actor: User, namespace: str, action: str) -> bool:
    if is_personal(namespace):
        return True
    role = account_selectors.effective_group_role(actor, namespace)
    return role_at_least(role, REQUIRED_ROLE[action])


def namespace_exists(namespace: str) -> bool:
    return is_personal(namespace) or account_selectors.get_group(namespace) is not None
