"""The end of a run: the best version beside the start and the constant-answer baseline on the same test
examples, and the verdict that offers it for review, or holds it back and says why.

The loopback student model of tests/test_loop.py answers right once the prompt names the answer format; these
tests change what it answers to make a best version that beats everything, one that answers a constant, and one
that beats the start but not the baseline.
"""

import pytest

from datasets.models import Split
from optimization import loop
from optimization.models import AuditEntry, Evaluation, LLMCall, PromptVersion, VersionStatus
from optimization.reviews import review_approve, review_request
from optimization.selectors import run_summary
from optimization.statistics import Comparison
from optimization.verdict import Side, judge
from promptopt.errors import PromptOptError
from tests import test_loop
from tests.test_loop import run_to_the_end, start_run

student = test_loop.student  # the fixture: the loopback model, as the loop's own tests use it

OTHER = {"plausible": "implausible", "implausible": "plausible"}


def test_the_baseline_is_the_train_splits_best_constant_scored_per_example_without_a_call(dataset, student):
    run = run_to_the_end(start_run(dataset))
    train = loop.selected_examples(run, Split.TRAIN)
    labels = [example.expected for example in train]
    answer = max(["plausible", "implausible"], key=lambda label: (labels.count(label), label == "plausible"))
    baseline = {e.split: e for e in Evaluation.objects.filter(run=run, version__isnull=True)}
    assert set(baseline) == {Split.VALIDATION, Split.TEST}
    for split, evaluation in baseline.items():
        assert evaluation.baseline_answer == answer
        predictions = list(evaluation.predictions.select_related("example"))
        assert [p.example for p in predictions] == loop.selected_examples(run, split)
        assert all(p.output == answer for p in predictions)
        assert [p.score for p in predictions] == [float(p.example.expected == answer) for p in predictions]
        assert evaluation.score == sum(p.score for p in predictions) / len(predictions)
    # Only the versions asked the model: 10 validation answers each for the start and its candidates, 10 test
    # answers each for the start and the best.
    versions = Evaluation.objects.filter(run=run, version__isnull=False)
    assert LLMCall.objects.filter(run=run, purpose="inference").count() == sum(e.predictions.count() for e in versions)
    summary = run_summary(run)
    assert summary["baseline"] == {
        "answer": answer, "validation": baseline[Split.VALIDATION].score, "test": baseline[Split.TEST].score,
        "test_delta": run.baseline_delta, "ci_low": run.baseline_ci_low, "ci_high": run.baseline_ci_high,
        "p_value": run.baseline_p_value,
    }
    assert run.baseline_delta == pytest.approx(1.0 - baseline[Split.TEST].score)


def test_a_version_that_beats_the_start_and_the_baseline_is_offered(dataset, student):
    run = run_to_the_end(start_run(dataset))
    best = run.best_version
    assert best.status == VersionStatus.CANDIDATE and best.held_back == ""
    assert run.verdict.startswith(f"v{best.number} is offered for review: on 10 test examples it scores 1.00")
    assert "above the start v1 (0.00; difference +1.00" in run.verdict
    assert "above always answering 'plausible'" in run.verdict
    summary = run_summary(run)
    assert summary["offered_for_review"] is True
    assert summary["constant_answer"] == {"start": {"validation": False, "test": False},
                                          "best": {"validation": False, "test": False}}
    # The versions it did not pick are held back with a reason, so no loser is offered either.
    losers = PromptVersion.objects.filter(created_by_run=run).exclude(pk=best.pk)
    assert losers and all(v.held_back.startswith(f"Run #{run.pk} did not pick it") for v in losers)


def test_a_version_that_answers_one_label_to_everything_is_flagged_and_held_back(dataset, student):
    student.answers = {text: "plausible" for text in student.answers}
    run = run_to_the_end(start_run(dataset))
    best = run.best_version
    flagged = Evaluation.objects.get(run=run, version=best, split=Split.TEST)
    assert flagged.constant_answer and flagged.spread["top_answer"] == "plausible"
    assert flagged.spread["top_share"] == 1.0 and flagged.spread["right_top_share"] < 0.9
    assert best.status == VersionStatus.DRAFT
    assert run.verdict.startswith(f"v{best.number} is not offered for review: it answers 'plausible' to 10 of 10 "
                                  "test examples")
    assert "it learned a constant answer, not the task" in run.verdict
    assert best.held_back == run.verdict
    summary = run_summary(run)
    assert summary["offered_for_review"] is False and summary["constant_answer"]["best"]["test"] is True


def test_a_version_that_beats_the_start_but_not_the_baseline_is_held_back(dataset, student):
    run = start_run(dataset)
    test = loop.selected_examples(run, Split.TEST)
    for example in test[1:]:  # wrong on all test examples but the first: 0.10, where the start scores 0
        student.answers[example.input] = OTHER[example.expected]
    run = run_to_the_end(run)
    best = run.best_version
    baseline = Evaluation.objects.get(run=run, version__isnull=True, split=Split.TEST)
    assert run.test_best_score == 0.1 and run.test_start_score == 0.0 and baseline.score > 0.1
    assert not Evaluation.objects.get(run=run, version=best, split=Split.TEST).constant_answer
    assert best.status == VersionStatus.DRAFT
    assert run.verdict == (
        f"v{best.number} is not offered for review: it does not score above always answering "
        f"{baseline.baseline_answer!r} on the test split (0.10 against {baseline.score:.2f}: difference "
        f"{run.baseline_delta:+.2f}, 95 % interval {run.baseline_ci_low:+.2f} to {run.baseline_ci_high:+.2f}, "
        f"p = {run.baseline_p_value:.3f}). It stays a draft; asking for its review takes a written reason, which the "
        "approver sees."
    )


def test_a_version_that_does_not_beat_the_start_on_test_is_held_back(dataset, student):
    run = start_run(dataset)
    for example in loop.selected_examples(run, Split.TEST):
        student.answers[example.input] = OTHER[example.expected]
    run = run_to_the_end(run)
    assert run.test_best_score == run.test_start_score == 0.0
    assert run.best_version.status == VersionStatus.DRAFT
    assert "it does not score above the start v1 on the test split (0.00 against 0.00" in run.verdict


def test_a_held_back_version_is_reviewed_only_with_a_written_override_the_log_keeps(dataset, student, editor,
                                                                                     approver):
    student.answers = {text: "plausible" for text in student.answers}
    best = run_to_the_end(start_run(dataset)).best_version
    with pytest.raises(PromptOptError, match="constant answer.*write why in the override"):
        review_request(version=best, by=editor)
    with pytest.raises(PromptOptError, match="write why in the override"):
        review_request(version=best, by=editor, override="   ")
    review_request(version=best, by=editor, comment="Please look.", override="Our users only ask plausible ones.")
    entry = AuditEntry.objects.get(version=best)
    assert (entry.action, entry.override, entry.comment) == ("request_review", "Our users only ask plausible ones.",
                                                             "Please look.")
    review_approve(version=best, by=approver)
    assert PromptVersion.objects.get(pk=best.pk).status == VersionStatus.APPROVED


def test_an_override_where_nothing_was_held_back_is_refused(dataset, student, editor):
    best = run_to_the_end(start_run(dataset)).best_version
    with pytest.raises(PromptOptError, match="nothing to override"):
        review_request(version=best, by=editor, override="Just because.")
    review_request(version=best, by=editor)


def test_a_draft_of_a_run_still_going_waits_for_its_verdict(dataset, student, editor):
    run = start_run(dataset)
    for _ in range(3):  # primary inference, evaluation, optimizer: drafts exist, nothing is decided
        loop.run_next_step(run.pk)
    draft = PromptVersion.objects.filter(created_by_run=run).first()
    with pytest.raises(PromptOptError, match="is still running"):
        review_request(version=draft, by=editor)


def comparison(delta, low, high, p):
    return Comparison(delta, low, high, p)


def sides(start, baseline):
    return dict(start=Side("the start v1", 0.5, start), baseline=Side("always answering 'a'", 0.55, baseline))


def test_the_verdict_offers_a_gain_that_could_be_chance_and_says_so():
    verdict = judge(best="v3", is_start=False, examples=40, best_score=0.6,
                    **sides(comparison(0.1, 0.02, 0.2, 0.01), comparison(0.05, -0.05, 0.15, 0.4)))
    assert verdict.offered
    assert verdict.words.endswith("Against always answering 'a' (the 95 % interval includes zero) the gain could be "
                                  "chance: measure it on more examples before relying on it.")
    beats_both = judge(best="v3", is_start=False, examples=40, best_score=0.6,
                       **sides(comparison(0.1, 0.02, 0.2, 0.01), comparison(0.05, 0.01, 0.1, 0.3)))
    assert beats_both.offered and "(the paired test gives p = 0.300)" in beats_both.words


def test_the_verdict_holds_back_a_tie_with_the_baseline_and_a_constant_answer():
    tie = judge(best="v3", is_start=False, examples=40, best_score=0.55,
                **sides(comparison(0.05, 0.0, 0.1, 0.1), comparison(0.0, -0.1, 0.1, 1.0)))
    assert not tie.offered and "does not score above always answering 'a'" in tie.words
    constant = judge(best="v3", is_start=False, examples=40, best_score=0.6, constant="it answers 'a' to all",
                     **sides(comparison(0.1, 0.02, 0.2, 0.01), comparison(0.05, 0.01, 0.1, 0.01)))
    assert not constant.offered and constant.words.startswith("v3 is not offered for review: it answers 'a' to all.")


def test_the_verdict_when_no_candidate_beat_the_start_on_validation():
    verdict = judge(best="v1", is_start=True, examples=40, best_score=0.5,
                    **sides(comparison(0, 0, 0, 1.0), comparison(-0.05, -0.1, 0, 0.5)))
    assert not verdict.offered
    assert verdict.words == ("No candidate beat the start on the validation split, so nothing new is offered for "
                             "review. On 40 test examples the start scores 0.50 and always answering 'a' scores 0.55.")


def test_the_admins_request_action_gives_no_override_so_it_is_refused(dataset, student, admin_client, admin_user):
    from promptopt.teams.models import Membership, Role

    Membership.objects.create(team=dataset.team, user=admin_user, role=Role.EDITOR)
    student.answers = {text: "plausible" for text in student.answers}
    best = run_to_the_end(start_run(dataset)).best_version
    response = admin_client.post("/admin/optimization/promptversion/",
                                 {"action": "review_request", "_selected_action": [best.pk]}, follow=True)
    assert "write why in the override" in response.content.decode()
    assert PromptVersion.objects.get(pk=best.pk).status == VersionStatus.DRAFT
    assert not AuditEntry.objects.filter(version=best).exists()
