"""The meta-model that screens candidates: what it reads of a prompt, and how it ranks them."""

from types import SimpleNamespace

import pytest

from optimization import meta_model
from optimization.meta_model import FEATURES, features, predict, shortlist
from optimization.strategies import Candidate
from optimization.strategies.operators import FORMAT_MARK

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

