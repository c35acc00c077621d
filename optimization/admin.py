from django.contrib import admin, messages

from promptopt.admin import TeamScopedAdmin
from promptopt.errors import PromptOptError

from . import reviews
from .models import (
    AuditEntry,
    CachedResponse,
    Evaluation,
    Iteration,
    LLMCall,
    Prediction,
    Prompt,
    PromptVersion,
    Run,
)


def review_action(transition, description):
    """An admin action that moves each selected version through the review workflow's own function."""

    def action(modeladmin, request, queryset):
        for version in queryset.select_related("prompt__team"):
            try:
                transition(version=version, by=request.user, comment="From the admin.")
            except PromptOptError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
            else:
                modeladmin.message_user(request, f"{version}: {version.get_status_display()}.", messages.SUCCESS)

    action.__name__ = transition.__name__
    action.short_description = description
    return action


class ReadOnlyAdmin(TeamScopedAdmin):
    """Records the loop writes: curators read and search them, nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Prompt)
class PromptAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "last_number", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "description"]
    readonly_fields = ["last_number", "created_at"]


@admin.register(PromptVersion)
class PromptVersionAdmin(TeamScopedAdmin):
    team_path = "prompt__team"
    list_display = ["__str__", "status", "parent", "created_by", "created_by_run", "created_at"]
    list_filter = ["status", "prompt__team"]
    search_fields = ["prompt__name", "system_prompt", "output_instruction", "note"]
    list_select_related = ["prompt", "parent__prompt", "created_by", "created_by_run"]
    raw_id_fields = ["parent", "created_by_run"]
    actions = [
        review_action(reviews.review_request, "Request review of the selected versions"),
        review_action(reviews.review_approve, "Approve the selected versions"),
        review_action(reviews.version_promote, "Promote the selected version to production"),
        review_action(reviews.version_rollback, "Roll back to the selected version"),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A saved version is immutable; its status moves only through the review workflow.
        if obj is None:
            return ["status", "created_at"]
        return [f.name for f in self.model._meta.fields]


class IterationInline(admin.TabularInline):
    model = Iteration
    fields = ["number", "best_score_before", "best_score_after", "improved", "optimizer_error", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "start_version", "dataset", "status", "step", "iteration", "best_score", "created_at"]
    list_filter = ["status", "step", "strategy", "primary_provider", "team"]
    search_fields = ["start_version__prompt__name", "dataset__name", "stop_reason", "last_error"]
    list_select_related = ["start_version__prompt", "dataset"]
    inlines = [IterationInline]


@admin.register(Iteration)
class IterationAdmin(ReadOnlyAdmin):
    team_path = "run__team"
    list_display = ["run", "number", "best_score_before", "best_score_after", "improved", "finished_at"]
    list_filter = ["improved"]
    search_fields = ["run__id"]


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    team_path = "run__team"
    list_display = ["run", "version", "split", "score", "created_at"]
    list_filter = ["split"]
    list_select_related = ["run", "version__prompt"]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    team_path = "evaluation__run__team"
    list_display = ["evaluation", "example", "output", "score"]
    search_fields = ["output", "example__input"]
    list_select_related = ["evaluation__version__prompt", "example__dataset"]


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    team_path = "run__team"
    list_display = ["created_at", "run", "iteration", "purpose", "provider", "model", "input_tokens",
                    "output_tokens", "latency_ms", "cost", "cached"]
    list_filter = ["provider", "purpose", "cached"]
    search_fields = ["model"]


@admin.register(CachedResponse)
class CachedResponseAdmin(admin.ModelAdmin):
    """The shared cache holds no team's data by reference, but its text may: superusers only."""

    list_display = ["key", "provider", "model", "hits", "created_at"]
    list_filter = ["provider", "model"]
    search_fields = ["key", "text"]
    readonly_fields = [f.name for f in CachedResponse._meta.fields]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "version", "from_status", "to_status", "comment"]
    list_filter = ["action", "to_status", "team"]
    search_fields = ["version__prompt__name", "actor__username", "comment"]
    list_select_related = ["actor", "version__prompt"]

    def has_delete_permission(self, request, obj=None):
        return False
