from django.contrib.admin import apps as admin_apps


class PromptOptAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, with the site that keeps every admin scoped to the user's teams or to superusers."""

    default_site = "promptopt.admin_site.AdminSite"
