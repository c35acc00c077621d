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

`TRANSITIONS` is the one table of the workflow: from which states, to which, the role it takes, and the words the
pages, the admin and the audit log use. The functions below read it; so do the pages, the admin and the API.
"""

from dataclasses import dataclass

from django.db import transaction

from optimization.webhooks import events as webhook_events
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.access import may, require_role
from promptopt.teams.models import Role

from .models import AuditEntry, PromptVersion, VersionStatus

S = VersionStatus


@dataclass(frozen=True)
class Transition:
    """One move of the workflow, and every word the pages, the admin and the audit log use for it."""

    name: str  # in the page's URL: /prompts/<pk>/versions/<n>/review/<name>/
    action: str  # the audit entry's action
    from_states: frozenset
    to_state: str
    role: str
    label: str  # the page's button
    comment: str  # the page's comment box: "" none, "optional" or "required"
    done: str  # "v3 is <done>." after it
    audit: str  # the audit log: "<actor> <audit>"
    refused: str  # "v3 is draft, so it cannot be <refused>."
    admin: str = ""  # the admin's bulk action, if it has one (rejecting takes a comment: not in bulk)
    after_production: bool | None = None  # offered only to a version that was (True) or never was (False) in production

    @property
    def call(self):
        """The function that does it and checks its rules (roles, four eyes, the override)."""
        return DOORS[self.name]

    def offered(self, version, user, *, was_in_production):
        """Whether the pages offer it to `user` for `version`; the function that does it still decides."""
        return (version.status in self.from_states and may(user, version.prompt.team, self.role)
                and self.after_production in (None, was_in_production))


TRANSITIONS = (
    Transition("request", "request_review", frozenset({S.CANDIDATE, S.DRAFT, S.REJECTED}), S.IN_REVIEW, Role.EDITOR,
               "Request review", "optional", "sent for review", "asked for a review", "sent for review",
               "Request review of the selected versions"),
    Transition("approve", "approve", frozenset({S.IN_REVIEW}), S.APPROVED, Role.APPROVER, "Approve", "optional",
               "approved", "approved", "approved", "Approve the selected versions"),
    Transition("reject", "reject", frozenset({S.IN_REVIEW}), S.REJECTED, Role.APPROVER, "Reject", "required",
               "rejected", "rejected", "rejected"),
    Transition("promote", "promote", frozenset({S.APPROVED}), S.PRODUCTION, Role.APPROVER, "Promote to production",
               "optional", "promoted to production", "promoted", "promoted (approve it first)",
               "Promote the selected version to production", after_production=False),
    Transition("rollback", "rollback", frozenset({S.APPROVED}), S.PRODUCTION, Role.APPROVER,
               "Roll back to this version", "optional", "back in production", "put back in production (rollback)",
               "rolled back to (it must be approved)", "Roll back to the selected version", after_production=True),
)
TRANSITION = {transition.name: transition for transition in TRANSITIONS}
# What the audit log says of each entry: the transitions', and the entries that are not a door of their own.
AUDIT_WORDS = {transition.action: transition.audit for transition in TRANSITIONS} | {
    "replaced_by_promote": "took out of production (a promotion replaced it)",
    "replaced_by_rollback": "took out of production (a rollback replaced it)",
    "import": "imported it as a draft (its status at the source, then its status here)",
}


def audit_words(action):
    return AUDIT_WORDS.get(action, action.replace("_", " "))


def was_in_production(version, entries=None):
    """Whether `version` has been in production before (a rollback may bring it back; a promotion would not).
    `entries`: its audit entries, when the caller has read them already."""
    if entries is None:
        return AuditEntry.objects.filter(version=version, to_status=S.PRODUCTION).exists()
    return any(entry.to_status == S.PRODUCTION for entry in entries)


def offered(version, user, entries=None):
    """The transitions the pages offer `user` for `version`, in the workflow's order."""
    before = was_in_production(version, entries)
    return [transition for transition in TRANSITIONS if transition.offered(version, user, was_in_production=before)]


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
    return _move(version, by, TRANSITION["request"], comment, override)


def why_held_back(version):
    """Why the run that made `version` did not offer it for review, or "" (a person's version, a candidate)."""
    run = version.created_by_run
    if run is not None and run.is_active and version.status == S.DRAFT:
        return f"Run #{run.pk} that made {version} is still running: its verdict decides whether it is offered."
    return version.held_back


def review_approve(*, version, by, comment=""):
    _check_not_own(version, by, "approve")
    return _move(version, by, TRANSITION["approve"], comment)


def review_reject(*, version, by, comment=""):
    _check_not_own(version, by, "reject")
    if not comment.strip():
        raise PromptOptError("Say why the version is rejected: the comment is what its author reads.")
    return _move(version, by, TRANSITION["reject"], comment)


def version_promote(*, version, by, comment=""):
    """Make an approved version the prompt's production version; the one it replaces goes back to approved."""
    return _to_production(version, by, "promote", comment)


def version_rollback(*, version, by, comment=""):
    """Put an earlier approved version back into production (the same rules as a promotion)."""
    if not was_in_production(version):
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
            _move(current, by, REPLACED[action], f"Replaced by v{version.number}.")
        return _move(version, by, TRANSITION[action], comment)


def _check_not_own(version, by, verb):
    if by.pk in (version.created_by_id, version.launched_by_id):
        how = "made it" if by.pk == version.created_by_id else "launched the run that made it"
        raise NotAllowed(f"You cannot {verb} {version}: you {how}. Another approver must review it.")


# The version a promotion or a rollback replaces goes back to approved, so that a rollback can bring it back.
REPLACED = {
    name: Transition(name, f"replaced_by_{name}", frozenset({S.PRODUCTION}), S.APPROVED, Role.APPROVER, "", "", "",
                     AUDIT_WORDS[f"replaced_by_{name}"], "replaced")
    for name in ("promote", "rollback")
}


def _move(version, by, transition, comment, override=""):
    require_role(by, version.prompt.team, transition.role)
    with transaction.atomic():
        locked = PromptVersion.objects.select_for_update().select_related("prompt").get(pk=version.pk)
        if locked.status not in transition.from_states:
            status = locked.get_status_display().lower()
            raise PromptOptError(f"{locked} is {status}, so it cannot be {transition.refused}.")
        previous = locked.status
        locked.status = transition.to_state
        locked.save(update_fields=["status"])
        entry = AuditEntry.objects.create(
            team=locked.prompt.team, version=locked, actor=by, action=transition.action, from_status=previous,
            to_status=transition.to_state, comment=comment, override=override,
        )
        webhook_events.version_changed(entry)  # sent once this transition commits
    version.status = transition.to_state
    return version


# The function behind each door: the pages, the admin's bulk actions and the API call these through the table.
DOORS = {"request": review_request, "approve": review_approve, "reject": review_reject,
         "promote": version_promote, "rollback": version_rollback}
