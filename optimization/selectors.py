"""Reads that the pages, the API and the CLI share: prompts and their versions, the version a run starts from,
what a run measured, the audit log. The production prompt, read on the applications' hot path, is in
optimization/api/production.py.

Callers scope by team first (`teams` is the queryset of the caller's teams); these only shape the reads.
"""

import difflib
import json

from django.db.models import Count, F, Max, OuterRef, Subquery
from django.http import Http404

from datasets.models import Split
from promptopt.errors import PromptOptError

from .llm import usage_for
from .models import Evaluation, Prediction, PromptVersion, RunStatus, VersionStatus

PRODUCTION = VersionStatus.PRODUCTION


def prompts_with_counts(prompts):
    production = PromptVersion.objects.filter(prompt=OuterRef("pk"), status=PRODUCTION)
    return prompts.select_related("created_by").annotate(
        version_count=Count("versions"),
        latest_version=Max("versions__number"),
        production_version=Subquery(production.values("number")[:1]),
    )


def demonstrations_text(version):
    return json.dumps(version.demonstrations, indent=2, ensure_ascii=False) if version.demonstrations else ""


def version_text(version):
    """A version as one document, the way a reviewer reads it: what changes between two versions is in here."""
    demonstrations = demonstrations_text(version)
    return (
        f"## system_prompt\n{version.system_prompt}\n"
        f"## output_instruction\n{version.output_instruction}\n"
        f"## demonstrations\n{demonstrations}\n"
    )


def versions_to_compare(prompt, *, old_number=None, new_number=None):
    """The two versions a diff compares, (old, new): the numbers asked for; by default the latest as the new one,
    and as the old one what the new one was written from (else the version before it). `old` is None when the new
    one has nothing before it; both are None for a prompt without versions. Http404 for a number it lacks."""
    versions = {version.number: version for version in prompt.versions.select_related("prompt", "parent")}
    for number in (new_number, old_number):
        if number is not None and number not in versions:
            raise Http404(f"Prompt {prompt.name} has no version {number}.")
    new = versions[new_number] if new_number is not None else versions.get(max(versions, default=None))
    if old_number is not None:
        return versions[old_number], new
    if new is None:
        return None, None
    if new.parent is not None and new.parent.prompt_id == prompt.pk:
        return versions[new.parent.number], new
    return versions.get(max((number for number in versions if number < new.number), default=None)), new


def version_diff(old, new):
    """A unified diff, as `diff -u` prints it, from `old` to `new`; empty when their texts are the same."""
    lines = difflib.unified_diff(
        version_text(old).splitlines(), version_text(new).splitlines(),
        fromfile=f"{old.prompt.name} v{old.number}", tofile=f"{new.prompt.name} v{new.number}", lineterm="",
    )
    return "\n".join(lines)


def start_version_of(prompt, number=None):
    """The version a run starts from: the one asked for, else production, else the latest a person wrote."""
    versions = prompt.versions.all()
    if number is not None:
        version = versions.filter(number=number).first()
        if version is None:
            raise PromptOptError(f"Prompt {prompt} has no version {number}.")
        return version
    return (
        versions.filter(status=VersionStatus.PRODUCTION).first()
        or versions.filter(created_by_run__isnull=True).order_by("-number").first()
        or versions.order_by("-number").first()
    )


def run_summary(run):
    """The run's result as one JSON-ready dict (the CLI prints it; the API returns the same shape)."""
    evaluations = list(Evaluation.objects.filter(run=run))

    def of(version, field):
        if version is None:
            return {}
        return {e.split: getattr(e, field) for e in evaluations if e.version_id == version.pk}

    usage = usage_for(run)
    best = run.best_or_start() if run.best_version_id or run.status == RunStatus.SUCCEEDED else None
    return {
        "run_id": run.pk,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "error": run.last_error,
        "start": of(run.start_version, "score"),
        "best": of(best, "score"),
        "test_delta": run.test_delta,
        "ci_low": run.ci_low,
        "ci_high": run.ci_high,
        "p_value": run.p_value,
        "baseline": baseline_summary(run, [e for e in evaluations if e.is_baseline]),
        "constant_answer": {"start": of(run.start_version, "constant_answer"), "best": of(best, "constant_answer")},
        "verdict": run.verdict,
        "offered_for_review": bool(run.verdict) and best != run.start_version and not best.held_back,
        "overfitting_gap": overfitting_gap(of(best, "score")),
        "calls_saved": run.calls_saved,
        "iterations": run.iterations.count(),
        "llm_calls": usage["llm_calls"],
        "tokens": usage["tokens"],
        "cache_hits": usage["cache_hits"],
        "best_version_id": best.pk if best else None,
    }


def overfitting_gap(scores):
    """The best version's validation score, where it was chosen among others, minus its test score: how much of
    its score the choosing itself may have found."""
    if scores.get(Split.VALIDATION) is None or scores.get(Split.TEST) is None:
        return None
    return scores[Split.VALIDATION] - scores[Split.TEST]


def baseline_summary(run, evaluations):
    """The constant answer chosen on train, its scores, and the best version − it on test; None before the end."""
    if not evaluations:
        return None
    scores = {e.split: e.score for e in evaluations}
    return {
        "answer": evaluations[0].baseline_answer,
        "validation": scores.get(Split.VALIDATION),
        "test": scores.get(Split.TEST),
        "test_delta": run.baseline_delta,
        "ci_low": run.baseline_ci_low,
        "ci_high": run.baseline_ci_high,
        "p_value": run.baseline_p_value,
    }


def run_evaluations(run, *, scored_only=False):
    """The run's evaluations with their number of examples, version by version (the baseline last), split by
    split; `scored_only`: those whose every example is scored."""
    evaluations = run.evaluations.all()
    if scored_only:
        evaluations = evaluations.filter(score__isnull=False)
    return (evaluations.select_related("version", "iteration").annotate(examples=Count("predictions"))
            .order_by(F("version__number").asc(nulls_last=True), "split"))


def run_headline_evaluation(run):
    """The evaluation a person looks at first: the best version's (or the start's) on test, else the last one."""
    evaluations = run_evaluations(run)
    return evaluations.filter(version=run.best_or_start(), split=Split.TEST).first() or evaluations.last()


def run_detail(run):
    """What the run page shows: the summary the CLI prints, usage, each iteration with its candidates' scores,
    and every evaluation of the run."""
    evaluations = list(run_evaluations(run))
    validation = {e.version_id: e.score for e in evaluations if e.split == "validation" and not e.is_baseline}
    iterations = []
    for iteration in run.iterations.prefetch_related("candidates").order_by("number"):
        candidates = sorted(iteration.candidates.all(), key=lambda version: version.number)
        iterations.append({
            "number": iteration.number,
            "best_score_before": iteration.best_score_before,
            "best_score_after": iteration.best_score_after,
            "improved": iteration.improved,
            "optimizer_error": iteration.optimizer_error,
            "started_at": iteration.started_at,
            "finished_at": iteration.finished_at,
            "candidates": [
                {"version": c.number, "version_id": c.pk, "validation_score": validation.get(c.pk),
                 "predicted_score": c.predicted_score}
                for c in candidates
            ],
        })
    return {
        "summary": run_summary(run),
        "usage": usage_for(run),
        "iterations": iterations,
        "evaluations": [
            {"version": e.version.number if e.version else None, "version_id": e.version_id,
             "baseline_answer": e.baseline_answer, "split": e.split, "score": e.score,
             "constant_answer": e.constant_answer, "raced_out": e.raced_out, "spread": e.spread,
             "examples": e.examples,
             "iteration": e.iteration.number if e.iteration else None}
            for e in evaluations
        ],
    }


def run_results(run, version, *, split=None, failures_only=False):
    """Per-example results of `version` in `run`, split by split in the examples' order."""
    predictions = Prediction.objects.filter(evaluation__run=run, evaluation__version=version)
    if split:
        predictions = predictions.filter(evaluation__split=split)
    return answers(predictions, failures_only=failures_only).order_by("evaluation__split", "example__position")


def answers(predictions, *, failures_only=False):
    """Predictions with their examples; `failures_only`: those scored below 1."""
    if failures_only:
        predictions = predictions.filter(score__lt=1)
    return predictions.select_related("example", "evaluation")


def audit_log(entries, *, prompt=None, version_number=None):
    if prompt is not None:
        entries = entries.filter(version__prompt=prompt)
    if version_number is not None:
        entries = entries.filter(version__number=version_number)
    return entries.select_related("actor", "version__prompt")
