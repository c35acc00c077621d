"""The approval workflow: four eyes on exactly one version, one production version, an append-only log."""

import pytest
from django.core.exceptions import ValidationError

from optimization.models import AuditEntry, Prompt, PromptVersion, Run, VersionStatus
from optimization.reviews import review_approve, review_reject, review_request, version_promote, version_rollback
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.models import Membership, Role
from tests.support.people import member


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="judge")


def candidate(prompt, author, text="Answer yes or no."):
    return PromptVersion.objects.create(prompt=prompt, system_prompt=text, created_by=author,
                                        status=VersionStatus.CANDIDATE)


def ship(version, requester, approver):
    review_request(version=version, by=requester, comment="Looks better on test.")
    review_approve(version=version, by=approver)
    return version_promote(version=version, by=approver)


def test_a_version_goes_from_candidate_to_production_through_another_person(prompt, editor, approver):
    version = candidate(prompt, editor)
    ship(version, editor, approver)
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.PRODUCTION
    log = list(AuditEntry.objects.filter(version=version).order_by("id").values_list("action", "from_status",
                                                                                     "to_status", "actor"))
    assert log == [
        ("request_review", "candidate", "in_review", editor.pk),
        ("approve", "in_review", "approved", approver.pk),
        ("promote", "approved", "production", approver.pk),
    ]


def test_nobody_approves_their_own_version(prompt, approver):
    version = candidate(prompt, approver)
    review_request(version=version, by=approver)
    with pytest.raises(NotAllowed, match="you made it"):
        review_approve(version=version, by=approver)
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.IN_REVIEW


def test_nobody_approves_a_version_made_by_a_run_they_launched(prompt, approver, second_approver, team):
    start = candidate(prompt, second_approver, "Start.")
    from datasets.models import Dataset

    dataset = Dataset.objects.create(team=team, name="d", source_format="csv")
    run = Run.objects.create(team=team, dataset=dataset, start_version=start, created_by=approver)
    made = PromptVersion.objects.create(prompt=prompt, system_prompt="Better.", created_by_run=run, parent=start,
                                        launched_by=run.created_by, status=VersionStatus.CANDIDATE)  # as the loop
    review_request(version=made, by=approver)
    with pytest.raises(NotAllowed, match="launched the run that made it"):
        review_approve(version=made, by=approver)
    review_approve(version=made, by=second_approver)


def test_approving_takes_the_approver_role(prompt, editor, team):
    other_editor = member(team, "ed2", Role.EDITOR)
    version = candidate(prompt, editor)
    review_request(version=version, by=editor)
    with pytest.raises(NotAllowed, match="approver role"):
        review_approve(version=version, by=other_editor)


def test_a_stranger_can_do_nothing(prompt, editor, approver, stranger):
    version = candidate(prompt, editor)
    with pytest.raises(NotAllowed):
        review_request(version=version, by=stranger)
    review_request(version=version, by=editor)
    with pytest.raises(NotAllowed):
        review_approve(version=version, by=stranger)


def test_an_approval_holds_for_exactly_one_version(prompt, editor, approver):
    approved = candidate(prompt, editor)
    review_request(version=approved, by=editor)
    review_approve(version=approved, by=approver)
    sibling = PromptVersion.objects.create(prompt=prompt, system_prompt="Answer yes or no!", parent=approved,
                                           created_by=editor)
    with pytest.raises(PromptOptError, match="cannot be promoted"):
        version_promote(version=sibling, by=approver)


def test_promoting_another_version_moves_production_and_rollback_brings_it_back(prompt, editor, approver):
    first, second = candidate(prompt, editor, "One."), candidate(prompt, editor, "Two.")
    ship(first, editor, approver)
    ship(second, editor, approver)
    statuses = dict(PromptVersion.objects.values_list("number", "status"))
    assert statuses == {first.number: "approved", second.number: "production"}
    version_rollback(version=first, by=approver, comment="Two broke the parser downstream.")
    statuses = dict(PromptVersion.objects.values_list("number", "status"))
    assert statuses == {first.number: "production", second.number: "approved"}
    assert AuditEntry.objects.filter(action="rollback", version=first).exists()


def test_rollback_needs_a_version_that_was_in_production(prompt, editor, approver):
    version = candidate(prompt, editor)
    review_request(version=version, by=editor)
    review_approve(version=version, by=approver)
    with pytest.raises(PromptOptError, match="never been in production"):
        version_rollback(version=version, by=approver)


def test_a_rejection_needs_a_reason_and_can_be_reviewed_again(prompt, editor, approver):
    version = candidate(prompt, editor)
    review_request(version=version, by=editor)
    with pytest.raises(PromptOptError, match="Say why"):
        review_reject(version=version, by=approver)
    review_reject(version=version, by=approver, comment="Too long.")
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.REJECTED
    review_request(version=version, by=editor, comment="Shortened the examples shown.")


def test_the_audit_log_is_append_only(prompt, editor, approver):
    version = candidate(prompt, editor)
    review_request(version=version, by=editor)
    entry = AuditEntry.objects.get()
    entry.comment = "rewritten history"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    assert AuditEntry.objects.get().comment == ""


def test_a_membership_role_orders_viewer_editor_approver(team, editor):
    membership = Membership.objects.get(user=editor)
    assert membership.allows(Role.VIEWER) and membership.allows(Role.EDITOR)
    assert not membership.allows(Role.APPROVER)
