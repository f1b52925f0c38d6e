"""Django's admin, kept for superusers: the site refuses everyone else, staff included.

Role changes go through the admin's user page only as far as `approvals.admin` lets them, and
each one is audited there. `ADMIN_ENABLED=false` removes the admin's URL altogether.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class CountersignAdminSite(AdminSite):
    site_header = "Countersign administration"

    def has_permission(self, request) -> bool:
        # Staff alone is not enough: the admin writes around the services, so only superusers,
        # who may do anything anyway, get in.
        return request.user.is_active and request.user.is_superuser


class CountersignAdminConfig(AdminConfig):
    default_site = "config.admin.CountersignAdminSite"
