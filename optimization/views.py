"""Pages for prompts, their versions and reviews, and runs. Every write goes through a service or the review
workflow (optimization.reviews); these views only find the objects (scoped to the user's teams) and show
what the services answer."""

import difflib
import re
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from datasets.models import Split
from optimization.rollouts.views import canary_card
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import is_htmx, member_view, page_of, render_page
from promptopt.teams.access import may, scoped, scoped_or_404, teams_of
from promptopt.teams.models import Role

from . import reviews
from .forms import PromptForm, RunForm, VersionForm
from .llm import usage_for
from .models import (
    AuditEntry,
    Evaluation,
    Prediction,
    Prompt,
    PromptVersion,
    Run,
    RunStatus,
    Step,
)
from .selectors import (
    answers,
    demonstrations_text,
    overfitting_gap,
    prompts_with_counts,
    run_evaluations,
    run_headline_evaluation,
    versions_to_compare,
)
from .services import (
    prompt_create,
    require_role,
    run_cancel,
    run_create,
    run_estimate,
    version_create,
)
from .statistics import Comparison
from .verdict import GAIN, p_words, significant

SCORED_SPLITS = (Split.VALIDATION, Split.TEST)


# ---------------------------------------------------------------------------------------------------------
# Prompts


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
        "audit": _audit(AuditEntry.objects.filter(version__prompt=prompt).select_related("actor", "version")[:50]),
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
    audit = _audit(version.audit_entries.select_related("actor", "version"))
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
        transition.call(version=version, by=request.user, comment=request.POST.get("comment", ""),
                                    **extra)
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


# ---------------------------------------------------------------------------------------------------------
# Comparing two versions


@dataclass
class DiffLine:
    kind: str  # same, added, removed, changed
    segments: list  # [(kind, text)], kind one of same, added, removed


def text_diff(old, new):
    """Line by line; a line changed in place shows the words that changed within it."""
    a, b = old.splitlines(), new.splitlines()
    lines = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [DiffLine("same", [("same", text)]) for text in a[i1:i2]]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            lines += [DiffLine("changed", word_diff(x, y)) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
        else:
            lines += [DiffLine("removed", [("removed", text)]) for text in a[i1:i2]]
            lines += [DiffLine("added", [("added", text)]) for text in b[j1:j2]]
    return lines


def word_diff(old, new):
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    segments = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            segments.append(("same", "".join(a[i1:i2])))
            continue
        if i1 < i2:
            segments.append(("removed", "".join(a[i1:i2])))
        if j1 < j2:
            segments.append(("added", "".join(b[j1:j2])))
    return segments


def _number(value):
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise Http404("A version number is a whole number.") from None


@member_view
def version_diff(request, pk):
    prompt = scoped_or_404(Prompt.objects.select_related("team"), request.user, pk=pk)
    versions = list(prompt.versions.select_related("parent").order_by("-number"))
    old, new = versions_to_compare(prompt, old_number=_number(request.GET.get("a")),
                                   new_number=_number(request.GET.get("b")))
    parts = []
    if old is not None and new is not None:
        for label, key in (("System prompt", "system_prompt"), ("Output instruction", "output_instruction")):
            parts.append((label, text_diff(getattr(old, key), getattr(new, key))))
        parts.append(("Demonstrations", text_diff(demonstrations_text(old), demonstrations_text(new))))
    context = {"prompt": prompt, "versions": versions, "old": old, "new": new, "parts": parts}
    return render(request, "optimization/version_diff.html", context)


# ---------------------------------------------------------------------------------------------------------
# Runs


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


def progress_words(run):
    """Where the run is, in a sentence."""
    if run.status == RunStatus.QUEUED:
        if run.cancel_requested:
            return "Cancelling: the worker stops it at its next check."
        return "Waiting for a worker to pick it up. If it stays queued, check that a worker runs (make worker)."
    if run.status == RunStatus.RUNNING:
        if run.cancel_requested:
            return "Cancelling: the worker stops it at its next check, within seconds."
        if run.step == Step.FINAL_TEST:
            return (f"Iterations done ({run.stop_reason}). Now scoring the start, the best version and the "
                    "constant-answer baseline on the test split.")
        return f"Iteration {run.iteration} of at most {run.max_iterations}: step {run.get_step_display()}."
    if run.status == RunStatus.SUCCEEDED:
        return f"Finished. {run.stop_reason} {verdict_headline(run)}".rstrip()
    if run.status == RunStatus.CANCELLED:
        return run.stop_reason or "Cancelled."
    return "Stopped by an error; nothing after it ran."


def verdict_headline(run):
    """The verdict in one short sentence; the comparison below the progress has it in full."""
    best = run.best_version
    if not run.verdict:  # a run finished before verdicts were written
        return ""
    if best is None or best == run.start_version:
        return "Nothing new is offered for review."
    if best.held_back:
        return f"{best} is held back, not offered for review: the comparison below says why."
    return f"{best} is offered for review."


def comparison_of(run):
    """The test-split comparison of the best version with the start and the constant-answer baseline, in numbers,
    and the run's verdict in words."""
    if run.test_delta is None:
        return None
    best = run.best_or_start()
    evaluations = {
        (e.version_id, e.split): e
        for e in Evaluation.objects.filter(run=run).filter(Q(version__in=[best, run.start_version]) |
                                                           Q(version__isnull=True)).annotate(n=Count("predictions"))
    }
    baseline = evaluations.get((None, Split.TEST))
    rows = [
        _comparison_row(f"start v{run.start_version.number}", run.start_version, evaluations, run.start_version.pk,
                        best != run.start_version and Comparison(run.test_delta, run.ci_low, run.ci_high,
                                                                 run.p_value)),
        _comparison_row(f"best v{best.number}", best, evaluations, best.pk, None),
    ]
    if baseline is not None:
        rows.append(_comparison_row(
            f"baseline: always “{baseline.baseline_answer}”", None, evaluations, None,
            Comparison(run.baseline_delta, run.baseline_ci_low, run.baseline_ci_high, run.baseline_p_value),
        ))
    test = evaluations.get((best.pk, Split.TEST))
    validation = evaluations.get((best.pk, Split.VALIDATION))
    return {
        "rows": rows,
        "gap": overfitting_gap({e.split: e.score for e in (test, validation) if e is not None}),
        "examples": test.n if test else 0,
        "best_version": best,
        "offered": best != run.start_version and not best.held_back,
        "meaning": run.verdict or _meaning_without_baseline(run, best),
    }


def _comparison_row(name, version, evaluations, version_id, comparison):
    """One line of the comparison: scores per split, and the best version − this one on test."""
    scored = [evaluations.get((version_id, split)) for split in SCORED_SPLITS]
    row = {"name": name, "version": version, "scores": scored,
           "constant": any(e is not None and e.constant_answer for e in scored) and version is not None}
    if comparison and comparison.delta is not None:
        note = ("not higher" if comparison.delta <= GAIN else "" if significant(comparison) else "could be chance")
        row |= {"delta": f"{comparison.delta:+.2f}", "ci": f"{comparison.ci_low:+.2f} to {comparison.ci_high:+.2f}",
                "p": p_words(comparison.p_value), "note": note}
    return row


def _meaning_without_baseline(run, best):
    """What a run finished before baselines were measured says: its comparison with the start only."""
    if best == run.start_version:
        return ("No candidate beat the start on the validation split, so the start stays the best version; "
                "the test split shows how it does on examples it was never tuned on.")
    return (f"{best} against the start on test: difference {run.test_delta:+.2f}, 95 % interval "
            f"{run.ci_low:+.2f} to {run.ci_high:+.2f}, {p_words(run.p_value)}. This run predates the "
            "constant-answer baseline, so it is not compared with one.")


def predicted_words(predicted):
    return "" if predicted is None else f", predicted {predicted:.2f} by the meta-model"


def score_chart(run, width=640, height=220):
    """The best validation score after each iteration (and each candidate's) as coordinates for an SVG."""
    validation = Evaluation.objects.filter(run=run, split=Split.VALIDATION, score__isnull=False)
    start = validation.filter(version=run.start_version).values_list("score", flat=True).first()
    baseline = validation.filter(version__isnull=True).first()
    best = [(0, start)] if start is not None else []
    best += [(i.number, i.best_score_after) for i in run.iterations.order_by("number")
             if i.best_score_after is not None]
    candidates = list(
        validation.filter(version__isnull=False, iteration__isnull=False).exclude(version=run.start_version)
        .values_list("iteration__number", "score", "version__number", "version__predicted_score")
    )
    if not best and not candidates:
        return None
    left, right, top, bottom = 40, 16, 12, 30
    span = max([1] + [n for n, _ in best] + [n for n, *_ in candidates])

    def x(n):
        return round(left + n / span * (width - left - right), 1)

    def y(score):
        return round(top + (1 - score) * (height - top - bottom), 1)

    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": height - bottom,
        "line": " ".join(f"{x(n)},{y(s)}" for n, s in best),
        "best": [{"x": x(n), "y": y(s), "title": f"{'start' if n == 0 else f'iteration {n}'}: best {s:.2f}"}
                 for n, s in best],
        "candidates": [
            {"x": x(n), "y": y(s), "title": f"v{v} (iteration {n}): {s:.2f}" + predicted_words(p)}
            for n, s, v, p in candidates
        ],
        "target": y(run.target),
        "baseline": baseline and {"y": y(baseline.score), "answer": baseline.baseline_answer,
                                  "score": f"{baseline.score:.2f}"},
        "y_ticks": [{"y": y(t), "label": f"{t:.2f}"} for t in (0, 0.25, 0.5, 0.75, 1)],
        "x_ticks": [{"x": x(n), "label": "start" if n == 0 else str(n)}
                    for n in range(0, span + 1, max(1, span // 10))],
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
