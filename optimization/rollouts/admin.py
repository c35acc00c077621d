from django.contrib import admin

from promptopt.teams.admin import TeamScopedAdmin

from .models import Canary, Outcome


class RecordAdmin(TeamScopedAdmin):
    """Read here; canaries start, stop and are promoted on the prompt's page and in the API, through the rules."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Canary)
class CanaryAdmin(RecordAdmin):
    list_display = ["__str__", "team", "status", "share", "started_by", "started_at", "ended_at"]
    list_filter = ["status", "team"]
    search_fields = ["prompt__name"]
    list_select_related = ["version__prompt", "baseline", "team", "started_by"]
    readonly_fields = ["started_at"]


@admin.register(Outcome)
class OutcomeAdmin(RecordAdmin):
    list_display = ["created_at", "canary", "version", "subject", "score"]
    list_filter = ["team"]
    search_fields = ["subject"]
    list_select_related = ["canary__version__prompt", "canary__baseline", "version__prompt"]
    readonly_fields = ["created_at"]
