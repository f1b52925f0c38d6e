"""People and roles in Django's admin (superusers only, see config.admin): every change of a
person's roles made there is audited; groups, which are the roles, are read-only.

Why here and not a signal: the admin knows who made the change, a `m2m_changed` handler does not,
and business logic stays out of signals. The admin saves a person's groups in `save_related`,
inside its own transaction; `user_roles_record` joins it, so the change and its audit event
commit together.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from approvals.services import user_roles_record
from audit.services import Actor

User = get_user_model()


def _roles_of(user) -> frozenset[str]:
    """A person's groups, with superuser and staff standing as roles of their own."""
    if user is None or user.pk is None:
        return frozenset()
    flags = User.objects.filter(pk=user.pk).values("is_superuser", "is_staff").first() or {}
    groups = user.groups.order_by("name").values_list("name", flat=True)
    return frozenset(groups) | {flag.removeprefix("is_") for flag, on in flags.items() if on}


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request, obj, form, change):
        # Read before anything is saved: the groups change in save_related, the flags here.
        before = _roles_of(User.objects.filter(pk=obj.pk).first()) if change else frozenset()
        request.countersign_roles_before = before
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user_roles_record(
            user=form.instance,
            before=getattr(request, "countersign_roles_before", frozenset()),
            after=_roles_of(form.instance),
            actor=Actor.user(request.user.pk),
        )


class ReadOnlyGroupAdmin(GroupAdmin):
    """The groups are the roles: renaming or deleting one would change what many people may do
    at once, unaudited. They are created by `load_demo` and `create_supervisor`."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, ReadOnlyGroupAdmin)
