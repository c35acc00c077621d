"""What the pages say about the evidence: the baseline beside every score, the answers' spread, the flag for a
constant answer, the verdict, and the override a held-back version needs before anyone reviews it."""

import re

import pytest

from datasets.models import Split
from optimization.models import AuditEntry, Evaluation, VersionStatus
from optimization.services import run_create
from tests.pages.support import RUN_PARAMETERS, client_for, student_for, text
from tests.test_loop import run_to_the_end


@pytest.fixture
def constant_run(dataset, version, editor, settings):
    """A run whose best version answers "plausible" to every example."""
    with student_for(dataset, settings) as student:
        student.answers = {text: "plausible" for text in student.answers}
        run = run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)
        return run_to_the_end(run)


@pytest.fixture
def good_run(dataset, version, editor, settings):
    with student_for(dataset, settings):
        run = run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)
        return run_to_the_end(run)


def plain(page):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_run_page_compares_the_best_with_the_start_and_the_baseline(editor, good_run):
    page = text(client_for(editor).get(f"/runs/{good_run.pk}/"))
    baseline = Evaluation.objects.get(run=good_run, version__isnull=True, split=Split.TEST)
    words = plain(page)
    assert f"baseline: always “{baseline.baseline_answer}” (chosen on train)" in words
    assert f"{baseline.score:.2f} {good_run.baseline_delta:+.2f} {good_run.baseline_ci_low:+.2f} to" in words
    assert '<line class="baseline"' in page  # the chart's baseline line, at its validation score
    assert good_run.verdict in page.replace("&#x27;", "'")
    assert f"Review {good_run.best_version}" in page


def test_a_constant_answer_is_flagged_on_the_run_page_and_the_verdict_says_why(editor, constant_run):
    page = text(client_for(editor).get(f"/runs/{constant_run.pk}/"))
    best = constant_run.best_version
    assert "constant answer</span>" in page
    assert "plausible (100 %)" in page
    assert "is not offered for review" in page and "it learned a constant answer, not the task" in page
    assert f"See {best} (held back)" in page


def test_the_answers_page_shows_the_spread_and_a_confusion_matrix(editor, constant_run):
    best_test = Evaluation.objects.get(run=constant_run, version=constant_run.best_version, split=Split.TEST)
    page = text(client_for(editor).get(f"/runs/{constant_run.pk}/results/", {"evaluation": best_test.pk}))
    assert "its answers beside the right answers" in page and "Confusion matrix" in page
    plausible, implausible = (row[2] for row in best_test.spread["rows"])
    assert f"<th scope=\"row\">implausible</th><td class=\"num\">{implausible}</td>" in page
    assert "Constant answer:</strong> plausible is the answer to 100 % of the 10 examples" in page
    baseline = Evaluation.objects.get(run=constant_run, version__isnull=True, split=Split.TEST)
    page = text(client_for(editor).get(f"/runs/{constant_run.pk}/results/", {"evaluation": baseline.pk}))
    assert f"The baseline, always “{baseline.baseline_answer}”, on test" in page
    assert "Constant answer:" not in page  # the baseline is constant by definition, nothing to warn about


def test_the_version_page_shows_the_evidence_and_asks_for_an_override(editor, constant_run):
    best = constant_run.best_version
    client = client_for(editor)
    url = f"/prompts/{best.prompt_id}/v{best.number}/"
    page = text(client.get(url))
    assert "The evidence of run #" in page and "baseline: always" in page
    assert 'name="override"' in page and "Why ask for its review anyway?" in page
    refused = text(client.post(url + "request/", {"comment": "Looks fine."}, follow=True))
    assert "write why in the override" in refused
    assert best.__class__.objects.get(pk=best.pk).status == VersionStatus.DRAFT
    client.post(url + "request/", {"override": "Our users only ask about plausible plays."})
    assert AuditEntry.objects.get(version=best).override == "Our users only ask about plausible plays."


def test_the_approver_sees_the_override_beside_the_runs_verdict(editor, approver, constant_run):
    best = constant_run.best_version
    url = f"/prompts/{best.prompt_id}/v{best.number}/"
    client_for(editor).post(url + "request/", {"override": "Our users only ask about plausible plays."})
    page = text(client_for(approver).get(url))
    assert "Asked for review against the run's verdict" in page
    assert "Our users only ask about plausible plays." in page
    assert "What the run said:" in page and "it learned a constant answer" in page
    assert "Approve" in page


def test_the_prompt_page_flags_a_held_back_version_and_a_constant_score(editor, constant_run):
    best = constant_run.best_version
    page = text(client_for(editor).get(f"/prompts/{best.prompt_id}/"))
    assert "held back</span>" in page and "constant answer</span>" in page


def test_the_progress_line_says_in_short_that_the_best_is_offered(editor, good_run):
    page = plain(text(client_for(editor).get(f"/runs/{good_run.pk}/")))
    assert f"Finished. Target reached: 1.000 ≥ 0.900. {good_run.best_version} is offered for review." in page


def test_the_progress_line_says_in_short_that_the_best_is_held_back(editor, constant_run):
    page = plain(text(client_for(editor).get(f"/runs/{constant_run.pk}/")))
    assert f"{constant_run.best_version} is held back, not offered for review: the comparison below says why." in page
