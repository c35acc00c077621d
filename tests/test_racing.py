"""Racing: candidates answer the validation examples a slice at a time, and one that can no longer beat the best,
is unlikely to, or that a paired test puts behind the best or the round's leader, answers no more; among the
candidates left, one the test cannot tell from the top ties, and the shorter prompt wins."""

from types import SimpleNamespace

import pytest

from datasets.models import Split
from optimization import loop, racing
from optimization.models import Evaluation, LLMCall, PromptVersion, Run, Step
from optimization.strategies import Candidate
from optimization.strategies.operators import FORMAT_MARK
from tests import test_loop
from tests.test_loop import start_run

student = test_loop.student  # the fixture: the loopback model that is right once the prompt names the answers

FORMAT = f"{{input}}\n{FORMAT_MARK}: exactly one of plausible, implausible."


@pytest.fixture
def raced(dataset, student, monkeypatch):
    """A run whose best so far names the answer format, in its second iteration, with the candidates given. Prompts
    that name the format are wrong on one validation example, `wrong_at` in the race's order (the last: so one of
    them ties with the best to the end)."""

    def run_with(*candidates, race_from=4, wrong_at=-1):
        run = start_run(dataset, examples_per_split=12, race_from=race_from, target=1.0)
        wrong = loop.race_order(run)[wrong_at]
        student.answers[wrong.input] = "implausible" if wrong.expected == "plausible" else "plausible"
        best = PromptVersion.objects.create(prompt=run.start_version.prompt, system_prompt="Judge sports.",
                                            output_instruction=FORMAT, parent=run.start_version, created_by_run=run)
        Run.objects.filter(pk=run.pk).update(best_version=best)  # as if an earlier iteration had found it
        monkeypatch.setattr(loop, "strategy_for", lambda name: lambda situation: list(candidates))
        for _ in range(4):  # primary inference and evaluation of the best; the optimizer; the refined inference
            loop.run_next_step(run.pk)
        run.refresh_from_db()
        assert run.step == Step.SECOND_EVALUATION, run.last_error
        return run

    return run_with


def answered(run, note):
    return Evaluation.objects.get(run=run, split=Split.VALIDATION, version__note=note).predictions.count()


def test_a_candidate_clearly_behind_stops_answering_and_the_run_counts_the_calls_saved(raced):
    run = raced(Candidate("Judge.", "{input}", (), "rambles"), Candidate("Judge these.", FORMAT, (), "formatted"))
    # Slices of 4, 8, 12: after 4 the rambling one is wrong on 4 examples the best is right on, and right on none
    # it is wrong on: one-sided p = 0.0625, below RACE_ALPHA.
    assert answered(run, "rambles") == 4 and answered(run, "formatted") == 12
    assert Evaluation.objects.get(run=run, version__note="rambles").raced_out is True
    assert run.calls_saved == 8
    candidate_calls = LLMCall.objects.filter(run=run, purpose="inference", iteration=1).count()
    assert candidate_calls == 12 + 4 + 12  # the best's 12, then the candidates'


def test_a_candidate_that_can_no_longer_beat_the_best_stops_answering(raced):
    run = raced(Candidate("Judge these.", FORMAT, (), "formatted"), wrong_at=0)
    # Wrong on the race's first example like the best (11 of 12), it could at most tie: a tie does not win.
    assert answered(run, "formatted") == 4 and run.calls_saved == 8
    loop.run_next_step(run.pk)
    run.refresh_from_db()
    assert run.iterations.get().improved is False and run.best_version.note != "formatted"


def test_without_racing_every_candidate_answers_every_example(raced):
    run = raced(Candidate("Judge.", "{input}", (), "rambles"), Candidate("Judge these.", FORMAT, (), "formatted"),
                race_from=0)
    assert answered(run, "rambles") == answered(run, "formatted") == 12 and run.calls_saved == 0


def test_the_dropped_candidate_is_not_the_winner_and_a_rerun_does_no_more(raced, student):
    run = raced(Candidate("Judge.", "{input}", (), "rambles"), Candidate("Judge these.", FORMAT, (), "formatted"))
    requests = len(student.requests)
    run.lease_token = "x"
    Run.objects.filter(pk=run.pk).update(lease_token="x")
    run.step = Step.REFINED_INFERENCE
    loop.refined_inference(run)  # as if the worker died after the race, before recording it
    assert len(student.requests) == requests and run.calls_saved == 8
    score, winner = loop.pick_winner(run, [c for c in run.iterations.get().candidates.all()
                                            if not loop.evaluation_of(run, c, Split.VALIDATION).raced_out])
    assert winner.note == "formatted"


def test_candidates_the_paired_test_cannot_tell_apart_tie_and_the_shorter_wins(raced):
    long = Candidate("Judge sports statements with care, thinking of every sport.", FORMAT, (), "long")
    short = Candidate("Judge.", FORMAT, (), "short")
    run = raced(long, short, Candidate("Hm.", "{input}", (), "rambles"), race_from=0)
    candidates = list(run.iterations.get().candidates.all())
    run.best_score = 0.5  # as if the best so far were worse than both
    score, winner = loop.pick_winner(run, candidates)
    assert (winner.note, score) == ("short", 11 / 12)
    # The rambling one is shortest of all, but clearly behind: it does not tie.
    assert loop.pick_winner(run, [c for c in candidates if c.note != "short"])[1].note == "long"
    # A tie that would not improve on the best so far does not take the top one's place.
    run.best_score = 11 / 12
    assert loop.pick_winner(run, candidates)[1].note == "long"


def test_the_slices_grow_by_a_quarter_until_every_example(dataset):
    assert loop.race_slices(5, 40) == [5, 7, 9, 12, 15, 19, 24, 30, 38, 40]
    assert loop.race_slices(10, 35) == [10, 13, 17, 22, 28, 35]
    assert loop.race_slices(1, 6) == [1, 2, 3, 4, 5, 6]  # at least one more example a round
    assert loop.race_slices(10, 10) == [10] and loop.race_slices(0, 40) == [40]
    assert len(loop.race_slices(5, 100_000)) == 45  # rounds grow with the split's logarithm


def test_the_summary_page_and_cli_show_the_calls_saved_and_the_overfitting_gauge(raced, editor):
    from django.test import Client

    from optimization.selectors import run_summary
    from tests.test_loop import run_to_the_end

    run = run_to_the_end(raced(Candidate("Judge.", "{input}", (), "rambles"),
                               Candidate("Judge these.", FORMAT, (), "formatted")))
    summary = run_summary(run)
    assert summary["calls_saved"] == 8
    assert summary["overfitting_gap"] == pytest.approx(summary["best"]["validation"] - summary["best"]["test"])
    client = Client()
    client.force_login(editor)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "answers saved by racing" in page and "(raced out)" in page
    assert f"Overfitting gauge: the best scores {summary['overfitting_gap']:.2f} more on validation" in page


@pytest.mark.parametrize(("lost", "gained", "dropped"), [
    (3, 0, True),    # p = 0.125
    (4, 1, True),    # p = 0.1875
    (2, 0, False),   # p = 0.25: two examples are not evidence enough
    (5, 3, False),   # behind by two of eight discordant pairs: p = 0.36
    (0, 3, False),   # ahead
])
def test_a_candidate_is_raced_out_only_when_the_one_sided_test_puts_it_behind(lost, gained, dropped):
    from optimization.statistics import behind_p_value

    best = [1] * lost + [0] * gained + [1, 0, 1]  # then three examples both answer alike
    candidate = [0] * lost + [1] * gained + [1, 0, 1]
    assert (behind_p_value(best, candidate, binary=True) < racing.RACE_ALPHA) is dropped


def test_scores_that_are_not_right_or_wrong_race_with_the_signed_rank_test():
    from optimization.statistics import behind_p_value

    best = [0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.75, 0.9, 0.8, 0.7]
    assert behind_p_value(best, [s - 0.3 for s in best], binary=False) < racing.RACE_ALPHA
    assert behind_p_value(best, [s + 0.3 for s in best], binary=False) > 0.9


def racers(best_score, metric="exact_match"):
    return SimpleNamespace(best_score=best_score, metric=metric, seed=0)


def same_length(racers):
    """Prompt lengths for the racers named: all the same, so the leader judges none of them by the tie rule."""
    return dict.fromkeys(racers, 100)


def test_the_round_drops_a_racer_behind_its_leader_even_when_it_is_ahead_of_the_best():
    best = dict.fromkeys(range(12), 0.0)  # the best so far: wrong everywhere
    answers = {"leader": dict.fromkeys(range(4), 1.0), "behind": {0: 0.0, 1: 0.0, 2: 0.0, 3: 1.0}}
    # "behind" beats the best (one gained, none lost) but loses three of three discordant pairs to the leader.
    assert racing.left_behind(racers(0.0), answers, best, 12, same_length(answers)) == {"behind"}
    # With the leader gone, nothing is ahead of it by enough.
    assert racing.left_behind(racers(0.0), {"behind": answers["behind"]}, best, 12,
                              same_length(["behind"])) == set()


def test_a_racer_shorter_than_the_leader_is_dropped_behind_it_only_by_the_tie_rule():
    best = dict.fromkeys(range(40), 0.0)
    leader = dict.fromkeys(range(9), 1.0)

    def left_behind(lost, length):
        """The racers that stop when one of them is wrong on the first `lost` examples the leader is right on."""
        behind = {**leader, **dict.fromkeys(range(lost), 0.0)}
        return racing.left_behind(racers(0.0), {"leader": leader, "behind": behind}, best, 40,
                                  {"leader": 100, "behind": length})

    # Longer than the leader, it could not win a tie with it: 3 discordant pairs of 3 (p = 0.125) drop it.
    assert left_behind(3, length=200) == {"behind"}
    # Shorter, it would win any tie the two-sided test at TIE_ALPHA cannot break: it races on at 3 of 3 and at 5 of
    # 5 (two-sided p = 0.0625), and stops at 6 of 6 (p = 0.031).
    assert left_behind(3, length=50) == left_behind(5, length=50) == set()
    assert left_behind(6, length=50) == {"behind"}


def test_a_racer_behind_the_best_so_far_stops_though_it_leads_the_round():
    best = {e: 1.0 if e < 3 else 0.0 for e in range(40)}  # 3 of 40: the best leads on the first 5
    alone = dict.fromkeys(range(5), 0.0)  # wrong on the best's 3: p = 0.125, yet it could still end above 3 of 40
    assert not racing.cannot_beat_the_best(racers(3 / 40), alone, 40)
    assert not racing.unlikely_to_beat_the_best(racers(3 / 40), alone, 40)
    assert racing.left_behind(racers(3 / 40), {"alone": alone}, best, 40, same_length(["alone"])) == {"alone"}


def test_the_race_judges_each_candidate_with_its_own_prompts_length(raced, monkeypatch):
    lengths = []
    judge = racing.left_behind
    monkeypatch.setattr(racing, "left_behind", lambda *args: lengths.append(args[-1]) or judge(*args))
    run = raced(Candidate("Judge.", "{input}", (), "rambles"), Candidate("Judge these.", FORMAT, (), "formatted"))
    by_note = {v.note: racing.prompt_length(v) for v in run.iterations.get().candidates.all()}
    assert lengths[0] == {v.pk: by_note[v.note] for v in run.iterations.get().candidates.all()}
    assert by_note["rambles"] != by_note["formatted"]


def test_the_round_keeps_racers_the_leader_is_not_clearly_ahead_of():
    best = dict.fromkeys(range(12), 0.0)
    answers = {"a": {0: 1.0, 1: 1.0, 2: 0.0, 3: 1.0}, "b": {0: 1.0, 1: 0.0, 2: 1.0, 3: 1.0}, "c": {0: 1.0, 1: 1.0,
                                                                                               2: 0.0, 3: 0.0}}
    assert racing.left_behind(racers(0.0), answers, best, 12, same_length(answers)) == set()


def test_a_racer_that_could_at_most_tie_with_the_best_stops_though_no_test_puts_it_behind():
    best = {e: 1.0 if e else 0.0 for e in range(12)}  # 11 of 12
    tied_so_far = {0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0}  # the same answers as the best on these four
    one_wrong = {0: 1.0, 1: 0.0, 2: 1.0, 3: 1.0}  # one gained, one lost: no test says it is behind
    racers_so_far = {"tied": tied_so_far, "one wrong": one_wrong}
    assert racing.left_behind(racers(11 / 12), racers_so_far, best, 12, same_length(racers_so_far)) == {
        "tied", "one wrong"}
    # Against a best of 10 of 12 both can still win.
    assert racing.left_behind(racers(10 / 12), racers_so_far, best, 12, same_length(racers_so_far)) == set()


def test_scores_between_0_and_1_can_still_catch_up_by_the_remaining_examples():
    best = dict.fromkeys(range(10), 0.8)
    # Ahead on three examples, far behind on two: the signed-rank test does not put either behind (p about 0.4);
    # with the five left all scoring 1, the first would end at 0.801, above the best, the second at 0.8 exactly.
    catching_up = {0: 1.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 0.01}
    at_most_equal = {0: 1.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0}
    assert racing.left_behind(racers(0.8, "token_f1"), {"a": catching_up, "b": at_most_equal}, best, 10,
                              same_length("ab")) == {"b"}


def test_a_racer_unlikely_to_end_above_the_best_stops_though_it_still_could():
    # The best so far is right on 16 of 40; on the first 10 it is right exactly where each racer is, so no paired
    # test separates them, and either could still end at 32 of 40 with every remaining answer right.
    best = {e: 1.0 if e < 2 or e >= 26 else 0.0 for e in range(40)}
    two_right = {e: best[e] for e in range(10)}
    three_right = {e: 1.0 if e < 3 else 0.0 for e in range(10)}
    best_of_three = {**best, 2: 1.0, 39: 0.0}
    # Right on 2 of 10, it needs 15 of the 30 left: a predictive chance of 0.07. Right on 3, 14 of 30: 0.23.
    assert racing.left_behind(racers(0.4), {"two": two_right}, best, 40, same_length(["two"])) == {"two"}
    assert racing.left_behind(racers(0.4), {"three": three_right}, best_of_three, 40,
                              same_length(["three"])) == set()


def test_the_chance_to_end_above_the_best_is_the_beta_binomial_prediction():
    import numpy as np

    from optimization.statistics import chance_to_exceed

    rng = np.random.default_rng(0)
    rates = rng.beta(1 + 3, 1 + 7, size=200_000)  # 3 right of 10, a uniform prior
    simulated = float(np.mean(rng.binomial(30, rates) > 12))
    assert chance_to_exceed([1.0] * 3 + [0.0] * 7, 30, 12, binary=True) == pytest.approx(simulated, abs=0.005)
    assert chance_to_exceed([1.0] * 3 + [0.0] * 7, 30, 30, binary=True) == 0.0  # more than all 30 right
    assert chance_to_exceed([0.0] * 10, 30, -0.5, binary=True) == 1.0  # already above


def test_scores_between_0_and_1_are_predicted_from_their_spread_and_not_at_all_without_one():
    from optimization.statistics import chance_to_exceed

    low = [0.1, 0.2, 0.15, 0.1, 0.05, 0.2, 0.1, 0.15, 0.1, 0.2]  # mean 0.135
    assert chance_to_exceed(low, 30, 0.5 * 30, binary=False) < 0.001
    assert 0.4 < chance_to_exceed(low, 30, 0.135 * 30, binary=False) < 0.6
    assert chance_to_exceed([0.2] * 10, 30, 0.5 * 30, binary=False) == 1.0  # no spread: nothing to predict from
