"""API permissions for staff actions: a staff token whose user holds the Django
permission (superusers hold all; ``banking.roles`` gives tellers the posting one). An
auditor's token, staff but read-only, is refused like a customer's."""
from __future__ import annotations

from rest_framework.permissions import BasePermission


def staff_with(permission: str, action: str) -> type[BasePermission]:
    """A DRF permission class: staff holding ``permission``; ``action`` completes the
    403 message ("Only staff allowed to <action> may do this.")."""

    class StaffWith(BasePermission):
        message = f"Only staff allowed to {action} may do this."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.is_staff and user.has_perm(permission))

    StaffWith.__name__ = StaffWith.__qualname__ = f"StaffWith_{permission.replace('.', '_')}"
    return StaffWith
