from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from users.models import AuthToken, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active", "date_joined")


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    """Tokens can be looked at and revoked (deleted), never created or read back:
    only a digest of each key is stored."""

    list_display = ("key_prefix", "user", "created_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "key_prefix")
    readonly_fields = ("key_prefix", "user", "created_at", "expires_at")
    exclude = ("key_hash",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
