"""The default admin site. Every admin registered on it either scopes itself to the signed-in user (a
`ScopedAdmin`: the teams' objects, one's own tokens) or is for superusers only: users, groups, the task queue and
any admin an app added later. The site enforces that when an admin is registered, so nobody has to remember it.

Kept apart from the admin modules that register on it (promptopt/teams/admin.py and each app's): the site is
built while they load.
"""

from django.contrib import admin


class ScopedAdmin(admin.ModelAdmin):
    """An admin that narrows what it shows and allows to the signed-in user: only these are open to staff."""


class SuperusersOnly:
    """Mixed into every registered admin that is not a ScopedAdmin."""

    def has_module_permission(self, request):
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class AdminSite(admin.AdminSite):
    """Made the default site by `promptopt.apps.PromptOptAdminConfig`."""

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ScopedAdmin):
            admin_class = type(admin_class.__name__, (SuperusersOnly, admin_class),
                               {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)
