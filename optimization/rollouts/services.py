"""Canary rollouts, with the four-eyes rules of a promotion: starting, stopping and promoting a canary take the
approver role, and nobody starts one for a version they made or whose run they launched. Each step is written to
the review workflow's audit log. Outcomes come from applications.

Rules kept elsewhere and reused: the review workflow's (optimization.reviews) for who may act and for the
promotion itself."""

import math

from django.db import IntegrityError, transaction
from django.utils import timezone

from optimization.models import AuditEntry, PromptVersion, VersionStatus
from optimization.reviews import _check_not_own, version_promote
from optimization.statistics import compare_independent
from promptopt.errors import PromptOptError
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from .models import Canary, Outcome

MAX_SHARE = 50


def _audit(canary, version, by, action, comment):
    AuditEntry.objects.create(team=canary.team, version=version, actor=by, action=action,
                              from_status=version.status, to_status=version.status, comment=comment)


@transaction.atomic
def canary_start(*, version, share, by, comment=""):
    """Serve approved `version` to `share` percent of the subjects, beside the production version."""
    require_role(by, version.prompt.team, Role.APPROVER)
    _check_not_own(version, by, "start a canary of")
    version = PromptVersion.objects.select_for_update().select_related("prompt__team").get(pk=version.pk)
    if version.status != VersionStatus.APPROVED:
        raise PromptOptError(f"{version} is {version.get_status_display().lower()}: only an approved version "
                             "goes beside production.")
    if not isinstance(share, int) or not 1 <= share <= MAX_SHARE:
        raise PromptOptError(f"The canary's share is a whole percent from 1 to {MAX_SHARE}.")
    baseline = version.prompt.versions.filter(status=VersionStatus.PRODUCTION).first()
    if baseline is None:
        raise PromptOptError(f"{version.prompt} has no production version to compare with: promote one first.")
    try:
        with transaction.atomic():
            canary = Canary.objects.create(team=version.prompt.team, prompt=version.prompt, version=version,
                                           baseline=baseline, share=share, started_by=by)
    except IntegrityError:
        raise PromptOptError(f"{version.prompt} already has a canary: stop or promote it first.") from None
    _audit(canary, version, by, "canary_start",
           comment or f"Canary on {share} % of the subjects beside v{baseline.number}.")
    return canary


@transaction.atomic
def canary_stop(*, canary, by, comment=""):
    require_role(by, canary.team, Role.APPROVER)
    canary = _active(canary)
    canary.status, canary.ended_by, canary.ended_at = Canary.Status.STOPPED, by, timezone.now()
    canary.save(update_fields=["status", "ended_by", "ended_at"])
    _audit(canary, canary.version, by, "canary_stop", comment or "Canary stopped: everyone gets production.")
    return canary


@transaction.atomic
def canary_promote(*, canary, by, comment=""):
    """The canary becomes production for everyone, through the review workflow's promotion."""
    canary = _active(canary)
    version_promote(version=canary.version, by=by, comment=comment or f"Promoted from a canary on {canary.share} %.")
    canary.status, canary.ended_by, canary.ended_at = Canary.Status.PROMOTED, by, timezone.now()
    canary.save(update_fields=["status", "ended_by", "ended_at"])
    return canary


def _active(canary):
    canary = Canary.objects.select_for_update().select_related("team", "version__prompt").get(pk=canary.pk)
    if canary.status != Canary.Status.ACTIVE:
        raise PromptOptError(f"This canary is {canary.get_status_display()} already.")
    return canary


def outcome_report(*, prompt, subject, version_number, score):
    """An application's score for what `subject` got. The version must be the one the active canary gives that
    subject: an outcome reported for the wrong version would bias the comparison."""
    canary = prompt.canaries.filter(status=Canary.Status.ACTIVE).select_related("version", "baseline").first()
    if canary is None:
        raise PromptOptError(f"{prompt} has no canary running: outcomes are collected while one is.")
    subject = str(subject or "").strip()
    if not subject or len(subject) > 200:
        raise PromptOptError("The subject is a user or session id of 1 to 200 characters.")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise PromptOptError("The score is a finite number, e.g. 1 for a good outcome and 0 for a bad one.")
    given = canary.version if canary.serves(subject) else canary.baseline
    if version_number != given.number:
        raise PromptOptError(f"Subject {subject!r} gets v{given.number} of {prompt}, not v{version_number}: "
                             "report the version the subject was served.")
    return Outcome.objects.create(canary=canary, team=canary.team, version=given, subject=subject, score=score)


def canary_comparison(canary):
    """Production against the canary on the subjects' outcomes (each subject's mean score counts once): the
    number of subjects and outcomes per side and, once both sides have some, the difference, its 95 % interval
    and a p-value."""
    per_subject = {}
    for version_id, subject, score in canary.outcomes.values_list("version_id", "subject", "score"):
        per_subject.setdefault(version_id, {}).setdefault(subject, []).append(score)
    sides = {}
    for name, version in (("production", canary.baseline), ("canary", canary.version)):
        subjects = per_subject.get(version.pk, {})
        means = [sum(scores) / len(scores) for scores in subjects.values()]
        sides[name] = {"version": version.number, "subjects": len(means),
                       "outcomes": sum(len(scores) for scores in subjects.values()),
                       "mean": sum(means) / len(means) if means else None, "scores": means}
    comparison = None
    if sides["production"]["scores"] and sides["canary"]["scores"]:
        everything = sides["production"]["scores"] + sides["canary"]["scores"]
        binary = all(score in (0.0, 1.0) for score in everything)
        comparison = compare_independent(sides["production"]["scores"], sides["canary"]["scores"], binary=binary)
    for side in sides.values():
        del side["scores"]
    return {"production": sides["production"], "canary": sides["canary"], "comparison": comparison}
