from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PromptOptConfig(AppConfig):
    name = "promptopt"
    verbose_name = "Teams"


class PromptOptAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, with the site that keeps every admin scoped to the user's teams or to superusers."""

    default = False  # "promptopt" in INSTALLED_APPS still means PromptOptConfig
    default_site = "promptopt.admin_site.AdminSite"
