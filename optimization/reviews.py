"""The approval workflow: the only place its rules live. Pages, admin actions and the API call these.

    candidate ──request──> in review ──approve──> approved ──promote──> production
                                    └─reject───> rejected           (the previous production goes back to approved,
                                                                     so a rollback can promote it again)

Approving or rejecting takes the approver role, and never by the person who made the version or launched the
run that made it. An approval belongs to exactly one version, and versions are immutable, so what was approved
is what ships. Every transition is written to the append-only audit log.

A version a run made but did not offer (its verdict held it back: it lost to the start or to the constant
answer, or gives one answer to everything; or another version won) needs a written override to be reviewed;
the log keeps the reason and the approver sees it.
"""

from django.db import transaction

from optimization.webhooks import events as webhook_events
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from .models import AuditEntry, PromptVersion, VersionStatus

S = VersionStatus


def review_request(*, version, by, comment="", override=""):
    """Ask for a review of a candidate (or of a draft a person wrote). A version its run held back takes an
    `override`: the requester's reason for a review against the run's verdict."""
    require_role(by, version.prompt.team, Role.EDITOR)
    override = override.strip()
    held_back = why_held_back(version)
    if held_back and not override:
        raise PromptOptError(f"{held_back} To ask for its review anyway, write why in the override; the approver "
                             "reads it beside the run's verdict.")
    if override and not held_back:
        raise PromptOptError(f"{version} was not held back, so there is nothing to override; write your words in "
                             "the comment.")
    return _move(version, by, "request_review", {S.CANDIDATE, S.DRAFT, S.REJECTED}, S.IN_REVIEW, Role.EDITOR, comment,
                 override)


def why_held_back(version):
    """Why the run that made `version` did not offer it for review, or "" (a person's version, a candidate)."""
    run = version.created_by_run
    if run is not None and run.is_active and version.status == S.DRAFT:
        return f"Run #{run.pk} that made {version} is still running: its verdict decides whether it is offered."
    return version.held_back


def review_approve(*, version, by, comment=""):
    _check_not_own(version, by, "approve")
    return _move(version, by, "approve", {S.IN_REVIEW}, S.APPROVED, Role.APPROVER, comment)


def review_reject(*, version, by, comment=""):
    _check_not_own(version, by, "reject")
    if not comment.strip():
        raise PromptOptError("Say why the version is rejected: the comment is what its author reads.")
    return _move(version, by, "reject", {S.IN_REVIEW}, S.REJECTED, Role.APPROVER, comment)


def version_promote(*, version, by, comment=""):
    """Make an approved version the prompt's production version; the one it replaces goes back to approved."""
    return _to_production(version, by, "promote", comment)


def version_rollback(*, version, by, comment=""):
    """Put an earlier approved version back into production (the same rules as a promotion)."""
    if not AuditEntry.objects.filter(version=version, to_status=S.PRODUCTION).exists():
        raise PromptOptError(f"{version} has never been in production; promote it instead of rolling back to it.")
    return _to_production(version, by, "rollback", comment)


def _to_production(version, by, action, comment):
    with transaction.atomic():
        current = (
            PromptVersion.objects.select_for_update()
            .filter(prompt=version.prompt, status=S.PRODUCTION)
            .exclude(pk=version.pk)
            .first()
        )
        if current is not None:
            require_role(by, version.prompt.team, Role.APPROVER)
            _move(current, by, f"replaced_by_{action}", {S.PRODUCTION}, S.APPROVED, Role.APPROVER,
                  f"Replaced by v{version.number}.")
        return _move(version, by, action, {S.APPROVED}, S.PRODUCTION, Role.APPROVER, comment)


def _check_not_own(version, by, verb):
    if by.pk in (version.created_by_id, version.launched_by_id):
        how = "made it" if by.pk == version.created_by_id else "launched the run that made it"
        raise NotAllowed(f"You cannot {verb} {version}: you {how}. Another approver must review it.")


def _move(version, by, action, allowed_from, to, role, comment, override=""):
    require_role(by, version.prompt.team, role)
    with transaction.atomic():
        locked = PromptVersion.objects.select_for_update().select_related("prompt").get(pk=version.pk)
        if locked.status not in allowed_from:
            status = locked.get_status_display().lower()
            raise PromptOptError(f"{locked} is {status}, so it cannot be {ACTION_WORDS.get(action, action)}.")
        previous = locked.status
        locked.status = to
        locked.save(update_fields=["status"])
        entry = AuditEntry.objects.create(
            team=locked.prompt.team, version=locked, actor=by, action=action, from_status=previous, to_status=to,
            comment=comment, override=override,
        )
        webhook_events.version_changed(entry)  # sent once this transition commits
    version.status = to
    return version


ACTION_WORDS = {
    "request_review": "sent for review",
    "approve": "approved",
    "reject": "rejected",
    "promote": "promoted (approve it first)",
    "rollback": "rolled back to (it must be approved)",
}
