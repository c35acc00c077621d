from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html

from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.admin import TeamScopedAdmin
from promptopt.teams.models import Role

from . import reviews
from .models import (
    AuditEntry,
    BatchJob,
    CachedResponse,
    Evaluation,
    Iteration,
    LLMCall,
    Prediction,
    Prompt,
    PromptVersion,
    Run,
    VersionStatus,
)
from .services import prompt_create


def review_action(transition):
    """An admin action that moves each selected version through the review workflow's own function, which checks
    the role in the version's team and that nobody reviews their own."""

    def action(modeladmin, request, queryset):
        for version in queryset.select_related("prompt__team"):
            try:
                transition.call(version=version, by=request.user, comment="From the admin.")
            except PromptOptError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
            else:
                modeladmin.message_user(request, f"{version}: {version.get_status_display()}.", messages.SUCCESS)

    action.__name__ = transition.call.__name__
    action.short_description = transition.admin
    action.allowed_permissions = ("review",)
    return action


class RecordAdmin(TeamScopedAdmin):
    """What runs and reviews record: curators read and search it; nobody adds, edits or deletes it by hand."""

    def has_delete_permission(self, request, obj=None):
        return False


def version_history(version):
    """Why a version is kept: what refers to it."""
    reasons = []
    entries = version.audit_entries.count()
    if entries:
        reasons.append(f"{version}: its review history ({entries} audit entries).")
    if version.evaluations.exists():
        reasons.append(f"{version}: scores measured by a run.")
    if version.created_by_run_id:
        reasons.append(f"{version}: made by run {version.created_by_run_id}.")
    return reasons


@admin.register(Prompt)
class PromptAdmin(TeamScopedAdmin):
    """A prompt added here is made by prompt_create, as on the pages: its first version is the signed-in user's."""

    add_fields = ("team", "name", "description")
    editable_fields = ("name", "description")
    list_display = ["name", "team", "last_number", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "description"]
    readonly_fields = ["last_number", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        try:
            prompt = prompt_create(team=obj.team, name=obj.name, description=obj.description,
                                   created_by=request.user)
        except NotAllowed as exc:  # the form offers only teams where the user is an editor
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj.created_by, obj.last_number = prompt.pk, prompt.created_by, prompt.last_number

    def kept_because(self, prompt):
        return [reason for version in prompt.versions.all() for reason in version_history(version)]


@admin.register(PromptVersion)
class PromptVersionAdmin(TeamScopedAdmin):
    """Versions are never added or edited here. A person writes one from an existing version on the pages ("new
    version from this one", linked from each version here), through the same service and its checks; the loop
    writes the rest. Status moves only through the review actions."""

    team_path = "prompt__team"
    list_display = ["__str__", "status", "parent", "created_by", "created_by_run", "created_at"]
    list_filter = ["status", "prompt__team"]
    search_fields = ["prompt__name", "system_prompt", "output_instruction", "note"]
    list_select_related = ["prompt", "parent__prompt", "created_by", "created_by_run"]
    readonly_fields = ["number", "launched_by", "predicted_score", "created_at", "new_version"]
    actions = [
        *(review_action(transition) for transition in reviews.TRANSITIONS if transition.admin),
    ]

    def has_review_permission(self, request):
        """Offers the review actions; each transition then checks the role in the version's own team."""
        return request.user.has_perm("optimization.change_promptversion") and self.holds(request, None, Role.EDITOR)

    def kept_because(self, version):
        """A draft a person wrote and nobody used may be deleted by an editor; what a history refers to stays."""
        reasons = version_history(version)
        if version.children.exists():
            reasons.append(f"{version}: later versions were written from it.")
        if version.status == VersionStatus.PRODUCTION:
            reasons.append(f"{version}: it is in production.")
        return reasons

    @admin.display(description="new version")
    def new_version(self, version):
        url = reverse("prompts:version_new", args=[version.prompt_id, version.number])
        return format_html('<a href="{}">Write a new version from this one</a> (on the prompt\'s page)', url)


class IterationInline(admin.TabularInline):
    model = Iteration
    fields = ["number", "best_score_before", "best_score_after", "improved", "optimizer_error", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj):
        return False


@admin.register(Run)
class RunAdmin(TeamScopedAdmin):
    """Runs are launched on the pages, the API or the command line. One that measured anything or made versions
    is kept, like the audit log: its scores and costs are the evidence behind its versions."""

    list_display = ["id", "start_version", "dataset", "status", "step", "iteration", "best_score", "created_at"]
    list_filter = ["status", "step", "strategy", "primary_provider", "team"]
    search_fields = ["start_version__prompt__name", "dataset__name", "stop_reason", "last_error"]
    list_select_related = ["start_version__prompt", "dataset"]
    inlines = [IterationInline]

    def kept_because(self, run):
        reasons = []
        if run.is_active:
            reasons.append(f"{run}: it is {run.get_status_display().lower()}; cancel it first.")
        if run.evaluations.exists() or run.llm_calls.exists():
            reasons.append(f"{run}: its scores and LLM calls are kept.")
        return reasons


@admin.register(Iteration)
class IterationAdmin(RecordAdmin):
    team_path = "run__team"
    list_display = ["run", "number", "best_score_before", "best_score_after", "improved", "finished_at"]
    list_filter = ["improved"]
    search_fields = ["run__id"]


@admin.register(Evaluation)
class EvaluationAdmin(RecordAdmin):
    team_path = "run__team"
    list_display = ["run", "version", "split", "score", "created_at"]
    list_filter = ["split"]
    list_select_related = ["run", "version__prompt"]


@admin.register(Prediction)
class PredictionAdmin(RecordAdmin):
    team_path = "evaluation__run__team"
    list_display = ["evaluation", "example", "output", "score"]
    search_fields = ["output", "example__input"]
    list_select_related = ["evaluation__version__prompt", "example__dataset"]


@admin.register(LLMCall)
class LLMCallAdmin(RecordAdmin):
    team_path = "run__team"
    list_display = ["created_at", "run", "iteration", "purpose", "provider", "model", "input_tokens",
                    "output_tokens", "latency_ms", "cost", "cached"]
    list_filter = ["provider", "purpose", "cached"]
    search_fields = ["model"]


@admin.register(BatchJob)
class BatchJobAdmin(RecordAdmin):
    team_path = "run__team"
    list_display = ["created_at", "run", "step", "iteration", "name", "state", "checked_at", "finished_at"]
    list_filter = ["state", "step"]
    search_fields = ["name", "error", "run__id"]
    exclude = ["requests"]  # a key and example ids per request: thousands of lines, of use to nobody here


@admin.register(CachedResponse)
class CachedResponseAdmin(admin.ModelAdmin):
    """The shared cache holds no team's data by reference, but its text may: superusers only (the site makes every
    admin that does not scope itself to the user's teams theirs alone)."""

    list_display = ["key", "provider", "model", "hits", "created_at"]
    list_filter = ["provider", "model"]
    search_fields = ["key", "text"]
    readonly_fields = [f.name for f in CachedResponse._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    list_display = ["created_at", "actor", "action", "version", "from_status", "to_status", "comment"]
    list_filter = ["action", "to_status", "team"]
    search_fields = ["version__prompt__name", "actor__username", "comment"]
    list_select_related = ["actor", "version__prompt"]
