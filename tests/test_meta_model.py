"""The meta-model that screens candidates: what it reads of a prompt, how it ranks, and a screened run end to end."""

from types import SimpleNamespace

import pytest

from optimization import meta_model
from optimization.meta_model import FEATURES, features, predict, shortlist
from optimization.models import LLMCall, PromptVersion
from optimization.strategies import Candidate
from optimization.strategies.operators import FORMAT_MARK
from tests.test_loop import run_to_the_end, start_run, student  # noqa: F401 (student is a fixture)

DEMO = {"input": "q", "output": "a"}


def prompt(system="Judge the statement.", instruction="{input}", demonstrations=0, note=""):
    return Candidate(system, instruction, tuple([DEMO] * demonstrations), note)


def test_features_are_read_from_the_prompt_text_and_note():
    candidate = prompt(
        "Judge the statement.\nBe brief.", f"{{input}}\n{FORMAT_MARK}: exactly one of yes, no.", demonstrations=3,
        note="State the answer format; Add 3 demonstrations",
    )
    assert dict(zip(FEATURES, features(candidate))) == {
        "system prompt words": 5,
        "output instruction words": 11,
        "demonstrations": 3,
        "{input} in the output instruction": 1,
        "lines": 4,
        "answer-format words": 3,  # "answer only", "exactly one of", "reply with"
        "note: state the answer format": 1,
        "note: add": 1,
        "note: swap the demonstrations": 0,
        "note: limit the answer's length": 0,
    }
    assert features(prompt(instruction="Answer:"))[3] == 0


# A history where only the number of demonstrations explains the score.
HISTORY = [(prompt(system=f"Judge statement {i}.", demonstrations=i % 4), (i % 4) / 3) for i in range(12)]


def test_a_feature_that_explains_the_score_ranks_a_candidate_with_it_first():
    proposals = [prompt("Plain one."), prompt("Plain two."), prompt("With examples.", demonstrations=3)]
    predicted = predict(HISTORY, proposals, seed=0)
    assert predicted[2] > max(predicted[:2])
    run = SimpleNamespace(seed=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(meta_model, "earlier_pairs", lambda run: [])
        kept, predictions = shortlist(run, HISTORY, proposals, keep=1)
    assert kept == [proposals[2]]
    assert predictions == {proposals[2].key(): predicted[2]}


def test_with_too_few_pairs_or_equal_scores_the_proposal_order_is_kept(monkeypatch):
    monkeypatch.setattr(meta_model, "earlier_pairs", lambda run: [])
    proposals = [prompt("Plain one."), prompt("Plain two."), prompt("With examples.", demonstrations=3)]
    run = SimpleNamespace(seed=0)
    assert shortlist(run, HISTORY[: meta_model.MIN_PAIRS - 1], proposals, keep=2) == (proposals[:2], {})
    flat = [(candidate, 0.5) for candidate, _ in HISTORY]
    assert shortlist(run, flat, proposals, keep=2) == (proposals[:2], {})
    assert shortlist(run, HISTORY[: meta_model.MIN_PAIRS], proposals, keep=2)[1] != {}  # one more pair ranks


def test_predictions_are_the_same_for_a_seed():
    noisy = [(prompt(system=" ".join(["word"] * i), demonstrations=i % 3), (i * 7 % 5) / 4) for i in range(15)]
    proposals = [prompt(" ".join(["word"] * n), demonstrations=n % 3) for n in range(1, 8)]
    assert predict(noisy, proposals, seed=3) == predict(noisy, proposals, seed=3)
    assert predict(noisy, proposals, seed=3) != predict(noisy, proposals, seed=4)


def inference_calls(run):
    return LLMCall.objects.filter(run=run, purpose="inference").count()


def test_a_screened_run_scores_only_the_candidates_kept_and_pays_no_more_answers(dataset, student):  # noqa: F811
    student.answers = {}  # never right: the run goes on for its three iterations
    params = dict(candidates_per_iteration=2, patience=3, max_iterations=3, race_from=0)  # each answers all 10
    plain = run_to_the_end(start_run(dataset, prompt_name="plain", **params))
    screened = run_to_the_end(start_run(dataset, prompt_name="screened", screen_factor=2, **params))
    assert screened.iterations.count() == plain.iterations.count() == 3
    for iteration in screened.iterations.all():
        assert iteration.candidates.count() == 2
        assert screened.evaluations.filter(version__in=iteration.candidates.all()).count() == 2
    # The start on validation, 2 candidates x 10 examples x 3 iterations, the start (also the best) on test.
    assert inference_calls(screened) == inference_calls(plain) == 10 + 3 * 2 * 10 + 10
    assert screened.estimated_calls == plain.estimated_calls


def test_a_screened_run_keeps_the_candidates_predicted_best_and_records_their_predictions(
    dataset, student, monkeypatch  # noqa: F811
):
    chosen = []

    def fake_shortlist(run, history, candidates, keep):
        chosen.append(len(candidates))
        kept = candidates[-keep:]  # the last proposed: not what an unscreened run would keep
        return kept, {candidate.key(): 0.25 for candidate in kept}

    monkeypatch.setattr(meta_model, "shortlist", fake_shortlist)
    run = run_to_the_end(start_run(dataset, candidates_per_iteration=2, screen_factor=3, max_iterations=1))
    assert chosen == [6]  # the strategy was asked for 2 x 3
    saved = PromptVersion.objects.filter(created_by_run=run)
    assert saved.count() == 2
    assert set(saved.values_list("predicted_score", flat=True)) == {0.25}


def test_an_unscreened_run_is_unchanged(dataset, student, monkeypatch):  # noqa: F811
    monkeypatch.setattr(meta_model, "shortlist", lambda *args: pytest.fail("an unscreened run asked the meta-model"))
    run = run_to_the_end(start_run(dataset))
    candidates = run.iterations.get().candidates.all()
    assert candidates.count() == 4
    assert set(candidates.values_list("predicted_score", flat=True)) == {None}
    assert run.test_best_score == 1.0


def test_earlier_runs_of_the_same_data_metric_and_model_teach_a_screened_run(dataset, student):  # noqa: F811
    first = run_to_the_end(start_run(dataset, prompt_name="first"))  # the start and 4 candidates, some right
    measured = list(first.evaluations.filter(split="validation", version__isnull=False).values_list("score", flat=True))
    assert len(measured) == 5 and set(measured) == {0.0, 1.0}  # the constant-answer baseline teaches nothing

    other_metric = start_run(dataset, prompt_name="other metric", metric="contains")
    assert meta_model.earlier_pairs(other_metric) == []
    other_model = start_run(dataset, prompt_name="other model", primary_model="another-model")
    assert meta_model.earlier_pairs(other_model) == []

    screened = run_to_the_end(start_run(dataset, prompt_name="screened", candidates_per_iteration=2, screen_factor=3))
    assert len(meta_model.earlier_pairs(screened)) == 5
    kept = screened.iterations.get(number=1).candidates.all()
    assert kept.count() == 2
    for version in kept:  # each one states the answer format, the one thing the student model needs
        assert FORMAT_MARK in version.output_instruction
        assert version.predicted_score > 0.5
        assert screened.evaluations.get(version=version, split="validation").score == 1.0


def test_a_screened_optimizer_step_done_twice_proposes_once(dataset, student, monkeypatch):  # noqa: F811
    from optimization import loop
    from optimization.models import Run

    proposals = []
    real = meta_model.shortlist
    monkeypatch.setattr(meta_model, "shortlist", lambda *args: proposals.append(1) or real(*args))
    run = start_run(dataset, screen_factor=2)
    for _ in range(2):
        loop.run_next_step(run.pk)  # primary inference, evaluation
    run.refresh_from_db()
    Run.objects.filter(pk=run.pk).update(lease_token="x")
    run.lease_token = "x"
    loop.optimizer(run)
    loop.optimizer(run)  # as if the worker died after proposing, before recording the step
    assert proposals == [1]
    assert run.iterations.get().candidates.count() == 4


def test_the_run_page_shows_the_prediction_beside_the_measured_score(dataset, editor, student, monkeypatch):  # noqa: F811
    from optimization.views.run_evidence import score_chart
    from tests.pages.support import client_for

    def predict_four_tenths(run, history, candidates, keep):
        return candidates[:keep], {candidate.key(): 0.4 for candidate in candidates}

    monkeypatch.setattr(meta_model, "shortlist", predict_four_tenths)
    run = run_to_the_end(start_run(dataset, candidates_per_iteration=1, screen_factor=2))
    [dot] = score_chart(run)["candidates"]
    assert dot["title"].endswith(": 1.00, predicted 0.40 by the meta-model")
    page = client_for(editor).get(f"/runs/{run.pk}/").content.decode()
    assert "1 candidates per iteration, the best predicted by the meta-model of 2 proposed" in page
    assert "predicted 0.40 by the meta-model" in page
