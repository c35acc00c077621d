"""The canary card of a prompt's page, and its buttons: start, stop, promote."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from optimization.models import Prompt, VersionStatus
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import member_view
from promptopt.teams.access import may, scoped_or_404
from promptopt.teams.models import Role

from . import services
from .models import Canary
from .selectors import canary_of


def canary_card(user, prompt):
    """What the prompt's page shows about canaries (templates/rollouts/_canary.html)."""
    canary = canary_of(prompt)
    if canary is not None:
        canary.comparison = services.canary_comparison(canary)
    return {
        "canary": canary,
        "active": canary is not None and canary.status == Canary.Status.ACTIVE,
        "can_approve": may(user, prompt.team, Role.APPROVER),
        "approved": prompt.versions.filter(status=VersionStatus.APPROVED).order_by("-number"),
        "max_share": services.MAX_SHARE,
    }


@require_POST
@member_view
def canary_action(request, pk, action):
    prompt = scoped_or_404(Prompt.objects.select_related("team"), request.user, pk=pk)
    try:
        if action == "start":
            version = prompt.versions.filter(number=_int(request.POST.get("version"))).first()
            if version is None:
                raise PromptOptError("Choose an approved version for the canary.")
            share = _int(request.POST.get("share"))
            services.canary_start(version=version, share=share, by=request.user)
            messages.success(request, f"v{version.number} now serves {share} % of the subjects beside production.")
        elif action in ("stop", "promote"):
            canary = prompt.canaries.filter(status=Canary.Status.ACTIVE).first()
            if canary is None:
                raise PromptOptError("No canary is running.")
            if action == "stop":
                services.canary_stop(canary=canary, by=request.user)
                messages.success(request, "Canary stopped: everyone gets production.")
            else:
                services.canary_promote(canary=canary, by=request.user)
                messages.success(request, f"v{canary.version.number} is production for everyone.")
        else:
            raise PromptOptError(f"Unknown action {action!r}.")
    except NotAllowed:
        raise
    except PromptOptError as exc:
        messages.error(request, exc.message)
    return redirect("prompts:detail", pk=prompt.pk)


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
