"""The prompt pages: the list, a new prompt, a prompt with its versions; a version, its review actions
(the workflow's table, optimization.reviews), and a new version written from it."""


from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from optimization.rollouts.views import canary_card
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import member_view, page_of
from promptopt.teams.access import may, scoped, scoped_or_404, teams_of
from promptopt.teams.models import Role

from .. import reviews
from ..forms import PromptForm, VersionForm
from ..models import AuditEntry, Evaluation, Prompt, PromptVersion
from ..selectors import audit_log, prompts_with_counts
from ..services import prompt_create, require_role, version_create
from .run_evidence import SCORED_SPLITS, comparison_of


@member_view
def prompt_list(request):
    prompts = prompts_with_counts(scoped(Prompt.objects, request.user)).select_related("team").order_by("name",
                                                                                                          "team__name")
    can_create = any(may(request.user, team, Role.EDITOR) for team in teams_of(request.user))
    return render(request, "optimization/prompt_list.html", {"page": page_of(request, prompts),
                                                               "can_create": can_create})


@member_view
def prompt_new(request):
    form = PromptForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            prompt = prompt_create(
                team=form.cleaned_data["team"], name=form.cleaned_data["name"], created_by=request.user,
                description=form.cleaned_data["description"], **form.texts(),
            )
        except NotAllowed:
            raise
        except PromptOptError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Prompt {prompt.name} created with its first version.")
            return redirect("prompts:detail", pk=prompt.pk)
    return render(request, "optimization/prompt_new.html", {"form": form})


@member_view
def prompt_detail(request, pk):
    prompt = scoped_or_404(Prompt.objects.select_related("team", "created_by"), request.user, pk=pk)
    versions = list(prompt.versions.select_related("created_by", "created_by_run", "parent").order_by("-number"))
    latest = {}  # (version id, split) -> the latest scored evaluation of it
    for evaluation in Evaluation.objects.filter(
        version__prompt=prompt, split__in=SCORED_SPLITS, score__isnull=False
    ).order_by("created_at"):
        latest[evaluation.version_id, evaluation.split] = evaluation
    for version in versions:
        version.scores = [latest.get((version.pk, split)) for split in SCORED_SPLITS]
    context = {
        "prompt": prompt,
        "versions": versions,
        "splits": SCORED_SPLITS,
        "audit": _audit(audit_log(AuditEntry.objects.all(), prompt=prompt)[:50]),
        "can_edit": may(request.user, prompt.team, Role.EDITOR),
        "canary_card": canary_card(request.user, prompt),
    }
    return render(request, "optimization/prompt_detail.html", context)


def _version_or_404(user, pk, number):
    return scoped_or_404(
        PromptVersion.objects.select_related("prompt__team", "created_by", "created_by_run", "parent"),
        user, "prompt__team", prompt_id=pk, number=number,
    )


def _audit(entries):
    entries = list(entries)
    for entry in entries:
        entry.words = reviews.audit_words(entry.action)
    return entries


@member_view
def version_detail(request, pk, number):
    version = _version_or_404(request.user, pk, number)
    audit = _audit(audit_log(version.audit_entries.all()))
    actions = reviews.offered(version, request.user, audit)
    evaluations = list(version.evaluations.filter(score__isnull=False).select_related("run").order_by("-created_at"))
    baselines = {
        (e.run_id, e.split): e
        for e in Evaluation.objects.filter(run__in={e.run_id for e in evaluations}, version__isnull=True)
    }
    for evaluation in evaluations:
        evaluation.baseline = baselines.get((evaluation.run_id, evaluation.split))
    made_by = version.created_by_run
    context = {
        "version": version,
        "prompt": version.prompt,
        "evaluations": evaluations,
        # The evidence of the run that made it: its comparison with the start and the baseline, and its verdict.
        "made_by": made_by,
        "comparison": comparison_of(made_by) if made_by and made_by.best_version_id == version.pk else None,
        "held_back": reviews.why_held_back(version),
        "override": next((entry for entry in audit if entry.override), None),
        "runs_started": version.runs_started.order_by("-created_at")[:10],
        "children": version.children.order_by("number"),
        "audit": audit,
        "actions": actions,
        "others": version.prompt.versions.exclude(pk=version.pk).order_by("-number"),
        "can_edit": may(request.user, version.prompt.team, Role.EDITOR),
    }
    return render(request, "optimization/version_detail.html", context)


@member_view
@require_POST
def version_review(request, pk, number, action):
    version = _version_or_404(request.user, pk, number)
    transition = reviews.TRANSITION.get(action)
    if transition is None:
        raise Http404(f"No review action {action!r}.")
    try:
        # A NotAllowed (a role missing, one's own version) goes on to member_view: a 403 page with its message.
        extra = {"override": request.POST.get("override", "")} if action == "request" else {}
        transition.call(version=version, by=request.user, comment=request.POST.get("comment", ""), **extra)
    except NotAllowed:
        raise
    except PromptOptError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{version} is {transition.done}.")
    return redirect("prompts:version", pk=pk, number=number)


@member_view
def version_new(request, pk, number):
    parent = _version_or_404(request.user, pk, number)
    require_role(request.user, parent.prompt.team, Role.EDITOR)
    form = VersionForm(request.POST or None, parent=parent)
    if request.method == "POST" and form.is_valid():
        try:
            version = version_create(parent=parent, by=request.user, **form.cleaned_data)
        except NotAllowed:
            raise
        except PromptOptError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved {version} (a draft). Request a review when it is ready.")
            return redirect("prompts:version", pk=pk, number=version.number)
    return render(request, "optimization/version_new.html", {"form": form, "parent": parent, "prompt": parent.prompt})
