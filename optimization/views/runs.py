"""The run pages: the list, the launch form and its estimate, a run (live while it runs), cancelling, and the
per-example results of any of its evaluations."""


from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import is_htmx, member_view, page_of, render_page
from promptopt.teams.access import may, scoped, scoped_or_404, teams_of
from promptopt.teams.models import Role

from ..forms import RunForm
from ..llm import usage_for
from ..models import Prediction, Run, RunStatus
from ..selectors import answers, run_evaluations, run_headline_evaluation
from ..services import require_role, run_cancel, run_create, run_estimate
from .run_evidence import comparison_of, progress_words, score_chart


@member_view
def run_list(request):
    runs = scoped(Run.objects, request.user).select_related("start_version__prompt", "dataset", "created_by")
    status = request.GET.get("status", "")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    else:
        status = ""
    can_launch = any(may(request.user, team, Role.EDITOR) for team in teams_of(request.user))
    context = {"page": page_of(request, runs), "status": status, "statuses": RunStatus.choices,
               "can_launch": can_launch}
    return render(request, "optimization/run_list.html", context)


def _prefill(query):
    """?dataset=, ?prompt= and ?version= from a link on a dataset or version page."""
    return {key: query[key] for key in ("dataset", "prompt", "version") if query.get(key, "").isdigit()}


@member_view
def run_new(request):
    """Parameters, then the estimate of LLM calls to confirm, then the run (queued once it is saved)."""
    if request.method == "POST":
        form = RunForm(request.user, request.POST)
    else:
        form = RunForm(request.user, initial=_prefill(request.GET))
    context = {"form": form}
    if request.method != "POST" or "edit" in request.POST or not form.is_valid():
        return render(request, "optimization/run_new.html", context)

    dataset, start_version = form.cleaned_data["dataset"], form.cleaned_data["start_version"]
    require_role(request.user, dataset.team, Role.EDITOR)
    parameters = form.parameters()
    if "launch" not in request.POST:
        context |= {
            "dataset": dataset, "start_version": start_version, "counts": dataset.split_counts(),
            "estimate": run_estimate(dataset=dataset, **parameters), "parameters": parameters,
        }
        return render(request, "optimization/run_confirm.html", context)
    try:
        run = run_create(dataset=dataset, start_version=start_version, created_by=request.user, enqueue=True,
                         **parameters)
    except NotAllowed:
        raise
    except PromptOptError as exc:
        form.add_error(None, exc.message)
        return render(request, "optimization/run_new.html", context)
    messages.success(request, f"Run #{run.pk} is queued: at most {run.estimated_calls} LLM calls.")
    return redirect("runs:detail", pk=run.pk)


def _run_or_404(user, pk):
    return scoped_or_404(
        Run.objects.select_related("team", "dataset", "start_version__prompt", "best_version", "created_by"),
        user, pk=pk,
    )


@member_view
def run_detail(request, pk):
    run = _run_or_404(request.user, pk)
    return render(request, "optimization/run_detail.html", live_context(request, run))


@member_view
def run_live(request, pk):
    """The part of the run page that changes while it runs; HTMX fetches it every 2 s until the run ends."""
    run = _run_or_404(request.user, pk)
    context = live_context(request, run) | {"refreshed": is_htmx(request)}  # clears the page's flash messages
    return render_page(request, "optimization/_run_live.html", context)


@member_view
@require_POST
def run_cancel_view(request, pk):
    run = _run_or_404(request.user, pk)
    try:
        run = run_cancel(run=run, by=request.user)
    except NotAllowed:
        raise
    except PromptOptError as exc:
        messages.error(request, exc.message)
    else:
        if run.status == RunStatus.CANCELLED:
            messages.success(request, f"Run #{run.pk} is cancelled.")
        else:
            messages.success(request, f"Run #{run.pk} stops at the worker's next check, within seconds.")
    return redirect("runs:detail", pk=pk)


def live_context(request, run):
    usage = usage_for(run)
    return {
        "run": run,
        "progress": progress_words(run),
        "usage": usage,
        "chart": score_chart(run),
        "comparison": comparison_of(run),
        "evaluations": run_evaluations(run, scored_only=True),
        "can_cancel": run.is_active and not run.cancel_requested and may(request.user, run.team, Role.EDITOR),
    }


@member_view
def run_results(request, pk):
    """Per-example results of one version on one split in the run, with a filter for the failures."""
    run = _run_or_404(request.user, pk)
    evaluations = run_evaluations(run)
    chosen = request.GET.get("evaluation", "")
    if chosen:
        if not chosen.isdigit():
            raise Http404("No such evaluation in this run.")
        evaluation = evaluations.filter(pk=chosen).first()
        if evaluation is None:
            raise Http404("No such evaluation in this run.")
    else:
        evaluation = run_headline_evaluation(run)
    failures = request.GET.get("failures") == "1"
    predictions = answers(evaluation.predictions, failures_only=failures) if evaluation else Prediction.objects.none()
    context = {
        "run": run,
        "evaluations": evaluations,
        "evaluation": evaluation,
        "confusion": confusion_rows(evaluation.spread) if evaluation else None,
        "failures": failures,
        "page": page_of(request, predictions),
    }
    return render_page(request, "optimization/run_results.html", context, fragment="optimization/_results.html")


def confusion_rows(spread):
    """The confusion matrix of a spread as rows a template can draw: the right answer, then a cell per answer."""
    confusion = (spread or {}).get("confusion")
    if not confusion:
        return None
    return {
        "columns": confusion["columns"],
        "rows": [
            {"label": label, "cells": [{"n": n, "diagonal": column == label}
                                       for column, n in zip(confusion["columns"], counts)]}
            for label, counts in zip(confusion["rows"], confusion["counts"])
        ],
    }
