"""Roles of the dashboard, as Django groups: viewer reads, operator acts on alerts, admin configures.

A user's role is the highest group they belong to; superusers are admins. Views ask with
`require_role(request, Role.OPERATOR)`, which raises PermissionDenied (403) when too low.
"""

from collections.abc import Iterable
from enum import IntEnum

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def group_name(self) -> str:
        return self.name.lower()


GROUP_ROLES = {role.group_name: role for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)}

ROLE_HELP = {
    Role.VIEWER: "reads every page",
    Role.OPERATOR: "also acknowledges and mutes incidents, runs checks now, pauses portals",
    Role.ADMIN: "also manages portals, bots, credentials and users",
}


def ensure_groups() -> None:
    """Creates the three role groups if missing (post_migrate, so every fresh database has them)."""
    for name in GROUP_ROLES:
        Group.objects.get_or_create(name=name)


def role_from_groups(names: Iterable[str]) -> Role:
    """The highest role among these group names (other groups are ignored)."""
    return max((GROUP_ROLES[n] for n in names if n in GROUP_ROLES), default=Role.NONE)


def role_of(user) -> Role:
    if not user.is_authenticated or not user.is_active:
        return Role.NONE
    if user.is_superuser:
        return Role.ADMIN
    # Cached on the user object: templates ask several times per page.
    cached = getattr(user, "_botwatch_role", None)
    if cached is None:
        cached = role_from_groups(user.groups.values_list("name", flat=True))
        user._botwatch_role = cached
    return cached


def has_role(user, role: Role) -> bool:
    return role_of(user) >= role


def require_role(request: HttpRequest, role: Role) -> None:
    if not has_role(request.user, role):
        raise PermissionDenied(f"This needs the {role.group_name} role.")


def set_role(user, role: Role) -> None:
    """Puts the user in exactly one role group (Role.NONE: none)."""
    user.groups.remove(*Group.objects.filter(name__in=GROUP_ROLES))
    if role != Role.NONE:
        user.groups.add(Group.objects.get(name=role.group_name))
    user._botwatch_role = None
