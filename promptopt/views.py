"""The dashboard: what is waiting for you across the apps (it sits at the top, beside the settings and URLs)."""

from django.shortcuts import render

from datasets.models import Dataset
from optimization.models import Prompt, PromptVersion, Run, VersionStatus

from .pages import member_view
from .teams.access import scoped
from .teams.models import Membership


@member_view
def dashboard(request):
    user = request.user
    versions = scoped(PromptVersion.objects, user, "prompt__team").select_related("prompt", "created_by_run")
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("team").order_by("team__name"),
        "runs": scoped(Run.objects, user).select_related("start_version__prompt", "dataset", "created_by")[:8],
        "in_review": versions.filter(status=VersionStatus.IN_REVIEW).order_by("-created_at")[:10],
        "candidates": versions.filter(status=VersionStatus.CANDIDATE).order_by("-created_at")[:10],
        "has_datasets": scoped(Dataset.objects, user).exists(),
        "has_prompts": scoped(Prompt.objects, user).exists(),
    }
    return render(request, "dashboard.html", context)
