"""The learning optimizer: replay tables, the environment of prompt edits, PPO training, and the policy strategy.

The loopback student of tests/test_loop.py answers right only once the prompt states the answer format, so every
table here has one edit worth its calls, and the test knows which.
"""

import dataclasses
import json
import re
import warnings

import numpy as np
import pytest
from django.core.files.storage import default_storage
from gymnasium.utils.env_checker import check_env

from optimization.policy import reachable, replay, training
from optimization.policy.env import PromptEditEnv
from optimization.policy.features import FEATURES
from optimization.strategies.edits import ACTIONS
from optimization.strategies.operators import FORMAT_MARK
from tests import test_loop
from tests.test_loop import run_to_the_end, start_run

student = test_loop.student  # the loopback model, a fixture here too

TABLE = {"primary_provider": "openai", "optimizer_provider": "openai", "examples_per_split": 10, "seed": 1}
TINY = {"n_steps": 128, "batch_size": 32, "n_epochs": 5}  # PPO in a few seconds
PRICE = 0.001


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # tables and policies are kept in the default storage
    return tmp_path


def train_and_save(dataset, timesteps=3000, call_price=PRICE, **options):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    model, record = training.train([table], timesteps=timesteps, seed=0, call_price=call_price,
                                   hyperparameters=TINY, **options)
    training.save(model, record, "policies/default.zip")
    return table, record


def test_a_replay_table_answers_each_reachable_prompt_once_and_is_kept(dataset, student):
    table, name, reused = replay.build_or_reuse(dataset, **TABLE)
    assert not reused and default_storage.exists(name)
    # No optimizer answer parses, so the rewrites are unavailable: the start's words, with or without the two
    # rules, and 0, 3 (two draws) or 6 (two draws) demonstrations.
    assert set(table["rewrite_errors"]) == {"meta_prompt", "critique"}
    assert len(table["states"]) == 2 * 2 * 5
    answered = [r for r in student.requests if "response_format" not in r and len(r["messages"]) > 1
                and not r["messages"][0]["content"].startswith("You are an expert prompt")]
    assert len(answered) == table["llm_calls"]["prompts"] * 10
    start = table["states"][table["start"]]
    assert start["score"] == 0.0 and set(start["outputs"]) == {"Well, it depends on the game."}
    for key, state in table["states"].items():
        assert state["score"] == (1.0 if "format=1" in key else 0.0), key
        assert (FORMAT_MARK in state["prompt"]["output_instruction"]) == ("format=1" in key)

    moves = reachable.moves(table)[table["start"]]
    assert moves["state_format"] == {"next": "start|format=1|length=0|demos=0.0", "calls": 10}
    assert moves["add_demonstrations"] == {"next": "start|format=0|length=0|demos=1.0", "calls": 10}
    assert moves["format_and_demonstrations"] == {"next": "start|format=1|length=0|demos=1.0", "calls": 10}
    assert moves["swap_demonstrations"] == {"next": table["start"], "calls": 0}  # nothing to swap yet
    assert moves["critique"] == {"next": table["start"], "calls": 2}  # paid for, but the rewrite failed

    requests = len(student.requests)
    again, _, reused = replay.build_or_reuse(dataset, **TABLE)
    assert reused and again == table and len(student.requests) == requests
    rebuilt, _, reused = replay.build_or_reuse(dataset, rebuild=True, **TABLE)
    assert not reused and rebuilt["states"] == table["states"]
    assert len(student.requests) == requests  # built again from the LLM cache


def test_the_environment_passes_gymnasiums_checks(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env only warns about much of what it finds
        check_env(PromptEditEnv([table]), skip_render_check=True)


def allowed(env):
    return {action for action, mask in zip(ACTIONS, env.action_masks()) if mask}


def chosen_of(observation):
    return {name.removeprefix("chosen: ") for name, value in zip(FEATURES, observation)
            if name.startswith("chosen: ") and value}


def test_a_choice_is_rewarded_for_what_it_adds_to_its_iteration_less_the_price_of_its_calls(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=4)
    observation, _ = env.reset(seed=0)
    assert observation[0] == 0.0 and observation[1] == 1.0  # score 0, every answer out of the labels' form
    observation, reward, terminated, _, info = env.step(ACTIONS.index("add_demonstrations"))
    assert (reward, terminated, info["calls"]) == (pytest.approx(-10 * PRICE), False, 10)
    assert chosen_of(observation) == {"add_demonstrations"}
    # The same prompt, answered already: the policy is not offered it (action_masks), and made anyway it is free.
    _, reward, _, _, info = env.step(ACTIONS.index("add_demonstrations"))
    assert (reward, info["calls"]) == (0.0, 0)
    observation, reward, terminated, _, _ = env.step(ACTIONS.index("state_format"))
    assert (reward, terminated) == (pytest.approx(1.0 - 10 * PRICE), False)  # the iteration is not over
    assert observation[0] == 0.0 and observation[3] == 0.0  # every choice of an iteration starts from the start
    # It scores 1.0 too, but adds nothing to what the iteration reached already.
    observation, reward, terminated, _, _ = env.step(ACTIONS.index("format_and_demonstrations"))
    assert (reward, terminated) == (pytest.approx(-10 * PRICE), True)  # four choices: the target is reached
    assert observation[0] == 1.0 and observation[3] == 1.0 and chosen_of(observation) == set()
    assert env.best == "start|format=1|length=0|demos=0.0"  # the first to reach the iteration's best
    _, reward, terminated, _, _ = env.reset(seed=0) and env.step(ACTIONS.index("stop"))
    assert (reward, terminated) == (0.0, True)


def test_stop_is_no_action_until_an_iteration_gained_nothing_and_then_only_as_its_first_choice(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=2, target=1.1)
    stop = ACTIONS.index("stop")
    env.reset(seed=0)
    assert not env.action_masks()[stop]  # nothing tried yet
    env.step(ACTIONS.index("add_demonstrations"))  # gains nothing: the student needs the format
    assert not env.action_masks()[stop]  # the iteration is not over
    env.step(ACTIONS.index("limit_length"))  # nor this: the iteration gained nothing
    assert env.action_masks()[stop]
    env.step(ACTIONS.index("state_format"))  # gains: edits pay on this task again
    assert not env.action_masks()[stop]
    env.step(ACTIONS.index("format_and_demonstrations"))
    assert env.best == "start|format=1|length=0|demos=0.0" and not env.action_masks()[stop]


def test_an_iterations_choices_start_from_one_prompt_each_knowing_the_others(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=3, target=1.1)

    run_so_far = [FEATURES.index("iteration"), FEATURES.index("budget left")]
    start, _ = env.reset(seed=0)
    observation, _, _, _, _ = env.step(ACTIONS.index("state_format"))
    assert chosen_of(observation) == {"state_format"} and observation[0] == 0.0
    # as a live iteration's situation: the iteration and budget left of its start, whatever its choices spend
    assert list(observation[run_so_far]) == list(start[run_so_far]) == [0.0, 1.0]
    assert allowed(env) == {"add_demonstrations", "format_and_demonstrations", "limit_length"}
    observation, _, _, _, _ = env.step(ACTIONS.index("limit_length"))
    assert chosen_of(observation) == {"state_format", "limit_length"}
    assert list(observation[run_so_far]) == [0.0, 1.0]
    assert allowed(env) == {"add_demonstrations", "format_and_demonstrations"}
    observation, _, _, _, _ = env.step(ACTIONS.index("add_demonstrations"))
    assert chosen_of(observation) == set() and observation[0] == 1.0  # a new iteration, from the format's prompt
    assert list(observation[run_so_far]) == pytest.approx([1 / 10, 1 - 30 / (10 * 3 * 10)])  # a run's 10 iterations
    assert allowed(env) == {"limit_length", "add_demonstrations"}


def test_of_choices_that_score_the_same_the_shorter_prompt_becomes_the_current_best(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=2, target=1.1)
    for order in (("format_and_demonstrations", "state_format"), ("state_format", "format_and_demonstrations")):
        env.reset(seed=0)
        _, first, _, _, _ = env.step(ACTIONS.index(order[0]))
        _, second, _, _, _ = env.step(ACTIONS.index(order[1]))
        assert (first, second) == (pytest.approx(1.0 - 10 * PRICE), pytest.approx(-10 * PRICE))  # no gain twice
        assert env.best == "start|format=1|length=0|demos=0.0", order  # the format without demonstrations


def test_an_episode_ends_after_its_iterations(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=1, max_iterations=2, target=1.1)
    env.reset(seed=0)
    observation, _, terminated, truncated, _ = env.step(ACTIONS.index("add_demonstrations"))
    assert (terminated, truncated) == (False, False) and observation[FEATURES.index("iteration")] == 0.5
    _, _, terminated, truncated, _ = env.step(ACTIONS.index("limit_length"))
    assert (terminated, truncated) == (False, True)


YES_NO = [("Is it?", "yes"), ("Is it not?", "no")]


def live_iteration(monkeypatch, preference, *, failing=(), repeating=(), k, last_gained=False, train=YES_NO):
    """The policy strategy's proposals for one iteration from a small yes/no prompt, the policy preferring the
    actions in `preference`' order (stop only if named there), the edits in `failing` raising OptimizerError and
    those in `repeating` giving back the prompt they were given; and what the policy was asked each time (the edits
    its observation shows chosen, the actions allowed)."""
    import random

    from optimization.strategies import Candidate, OptimizerError, Situation, edits
    from optimization.strategies import policy as strategy

    asked = []

    class Preferring:
        def probabilities(self, observation, masks):
            asked.append((chosen_of(observation), {action for action, mask in zip(ACTIONS, masks) if mask}))
            weights = np.array([len(preference) - preference.index(a) if a in preference else 0 for a in ACTIONS])
            return weights * masks / (weights * masks).sum()

    def fails(base, situation):
        raise OptimizerError("The optimizer's answer was no prompt.")

    def repeats(base, situation):
        return base

    for name, how in [*((name, fails) for name in failing), *((name, repeats) for name in repeating)]:
        monkeypatch.setitem(edits.EDIT_BY_NAME, name, dataclasses.replace(edits.EDIT_BY_NAME[name], apply=how))
    monkeypatch.setattr(training, "load", lambda name: Preferring())
    situation = Situation(current=Candidate("Judge.", "Answer.", ()), history=[], failures=[],
                          train=train, choices=["yes", "no"], k=k, iteration=2,
                          rng=random.Random(0), max_iterations=3, answers=[("Well.", "yes"), ("no", "no")],
                          iterations_without_improvement=0 if last_gained else 1)
    return strategy.propose(situation), asked


AT_START = {"state_format", "add_demonstrations", "format_and_demonstrations", "limit_length", "meta_prompt",
            "critique"}  # the edits that apply to a prompt without demonstrations: nothing to swap yet


def test_a_live_iteration_asks_the_policy_once_a_choice_showing_it_the_edits_chosen_before(monkeypatch):
    proposals, asked = live_iteration(monkeypatch, [action for action in ACTIONS if action != "stop"], k=3)
    assert [re.match(r"Policy chose: (.+) \(p = 0\.\d\d, its choice (\d) of this iteration\)\. ", p.note).groups()
            for p in proposals] == [("state the answer format", "1"), ("add demonstrations", "2"),
                                    ("state the answer format and add demonstrations", "3")]
    assert asked == [
        (set(), AT_START | {"stop"}),  # the last iteration gained nothing: stop is a first choice
        ({"state_format"}, AT_START - {"state_format"}),
        ({"state_format", "add_demonstrations"}, AT_START - {"state_format", "add_demonstrations"}),
    ]


def test_an_edit_that_makes_no_new_prompt_is_passed_over_and_not_shown_to_the_policy_as_chosen(monkeypatch):
    # A failed rewrite, and a rewrite that gives back the prompt it was given, are what a replay table holds as no
    # action: masked, and not among the edits chosen, as in training.
    preference = ["meta_prompt", "state_format", "critique", "add_demonstrations", "limit_length"]
    proposals, asked = live_iteration(monkeypatch, preference, failing=["meta_prompt"], repeating=["critique"], k=2)
    assert [re.match(r"Policy chose: (.+) \(p = 0\.\d\d, its choice (\d) of this iteration\)\. ", p.note).groups()
            for p in proposals] == [("state the answer format", "1"), ("add demonstrations", "2")]
    assert asked == [
        (set(), AT_START | {"stop"}),
        (set(), AT_START - {"meta_prompt"} | {"stop"}),  # stop still a first choice: no edit was made yet
        ({"state_format"}, AT_START - {"meta_prompt", "state_format"}),
        ({"state_format"}, AT_START - {"meta_prompt", "state_format", "critique"}),
    ]


def test_an_iterations_first_edit_with_demonstrations_draws_what_the_fixed_orders_first_draws(monkeypatch):
    # Compared on one seed, two arms whose iteration begins with the same edit from the same prompt begin with the
    # same candidate: the policy breaks its ties without drawing from the iteration's stream.
    import random

    from optimization.strategies import Candidate, Situation, operators

    train = [(f"Is {n} even?", "yes" if n % 2 == 0 else "no") for n in range(12)]
    [proposal], _ = live_iteration(monkeypatch, ["format_and_demonstrations"], k=1, train=train)
    [fixed_order] = operators.propose(
        Situation(current=Candidate("Judge.", "Answer.", ()), history=[], failures=[], train=train,
                  choices=["yes", "no"], k=1, iteration=2, rng=random.Random(0)),
    )
    assert proposal.demonstrations == fixed_order.demonstrations and len(proposal.demonstrations) == 3


def test_the_only_edit_left_is_not_shown_as_the_policys_confident_choice(monkeypatch):
    failing = sorted(AT_START - {"limit_length"})
    proposals, asked = live_iteration(monkeypatch, [*failing, "limit_length"], failing=failing[:2],
                                      repeating=failing[2:], k=3, last_gained=True)
    assert [p.note.split(". ")[0] for p in proposals] == [
        "Policy chose: limit the answer's length (the only edit left, its choice 1 of this iteration)"]
    assert asked[-1] == (set(), {"limit_length"})  # and, with nothing left after it, the iteration ends there


def test_an_iteration_whose_every_edit_makes_nothing_says_why_and_does_not_stop_the_run(monkeypatch):
    from optimization.strategies import OptimizerError

    edits = sorted(AT_START)
    with pytest.raises(OptimizerError, match="The optimizer's answer was no prompt."):
        live_iteration(monkeypatch, edits, failing=edits[:3], repeating=edits[3:], k=2)
    with pytest.raises(OptimizerError, match=r"^No new prompt: every edit the policy chose made one this run has "
                                             r"scored already \(add demonstrations, a critique rewrite, .+\)\.$"):
        live_iteration(monkeypatch, edits, repeating=edits, k=2)


def test_a_stop_after_a_failed_edit_says_what_failed(monkeypatch):
    from optimization.strategies import StopOptimizing

    with pytest.raises(StopOptimizing, match=r"^The policy chose to stop \(p = 1\.00\): .+ \(before that: The "
                                             r"optimizer's answer was no prompt\.\)$"):
        live_iteration(monkeypatch, ["meta_prompt", "stop"], failing=["meta_prompt"], k=2)


def test_an_edit_that_cannot_change_the_prompt_or_whose_prompt_was_answered_is_no_action(dataset, student):
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    # one edit an iteration, and a target never reached: the episode goes on
    env = PromptEditEnv([table], call_price=PRICE, candidates_per_iteration=1, target=1.1)

    env.reset(seed=0)
    # No demonstrations to swap yet; both rewrites failed when the table was built, so they lead nowhere.
    assert allowed(env) == {"state_format", "add_demonstrations", "format_and_demonstrations", "limit_length"}
    env.step(ACTIONS.index("state_format"))  # gains
    assert allowed(env) == {"add_demonstrations", "limit_length"}  # the format is stated: neither format edit
    env.step(ACTIONS.index("add_demonstrations"))  # gains nothing: the best keeps no demonstrations
    assert allowed(env) == {"limit_length", "stop"}  # adding them again would lead to the same, answered prompt
    env.step(ACTIONS.index("limit_length"))  # gains nothing either
    assert allowed(env) == {"stop"}


def test_a_prompt_shows_at_most_six_demonstrations_through_the_policys_edits():
    from optimization.strategies import Candidate
    from optimization.strategies.edits import applicable

    def showing(count):
        return Candidate("Judge.", "Answer.", tuple({"input": f"q{i}", "output": "yes"} for i in range(count)))

    assert applicable(showing(3))["add_demonstrations"] and applicable(showing(3))["format_and_demonstrations"]
    assert not applicable(showing(6))["add_demonstrations"] and applicable(showing(6))["swap_demonstrations"]
    assert not applicable(showing(6))["format_and_demonstrations"]
    assert reachable.after(reachable.State(level=reachable.MAX_LEVEL), "format_and_demonstrations") == (
        reachable.State(level=reachable.MAX_LEVEL))  # the table agrees: no state past the cap


def test_a_tiny_ppo_learns_the_edit_that_pays_and_is_kept_in_storage_with_what_it_saw(dataset, student):
    table, record = train_and_save(dataset)
    assert default_storage.exists("policies/default.zip") and default_storage.exists("policies/default.json")
    kept = json.loads(default_storage.open("policies/default.json").read())
    assert kept["datasets"] == [{"id": dataset.pk, "name": "sports"}]
    assert kept["tables"][0]["states"] == 20 and kept["tables"][0]["validation_examples"] == 10
    assert (kept["seed"], kept["timesteps"], kept["hyperparameters"]["n_steps"]) == (0, 3000, 128)
    assert kept["versions"]["torch"].startswith("2.13.0") and kept["actions"] == list(ACTIONS)

    policy = training.load("policies/default.zip")
    env = PromptEditEnv([table])
    observation, _ = env.reset(seed=0)
    probabilities = policy.probabilities(observation, env.action_masks())
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert ACTIONS[int(np.argmax(probabilities))] in {"state_format", "format_and_demonstrations"}  # both pay


def test_a_policy_run_takes_the_policys_edits_and_the_run_page_says_which_and_how_probable(
    dataset, student, editor, client
):
    train_and_save(dataset)
    run = run_to_the_end(start_run(dataset, strategy="policy", candidates_per_iteration=2))
    assert run.status == "succeeded", run.last_error
    best = run.best_version
    assert FORMAT_MARK in best.output_instruction and run.test_best_score == 1.0
    made = {int(re.search(r"its choice (\d) of this iteration", c.note)[1]): c
            for c in run.iterations.get().candidates.all()}
    # its choices one after another (a rewrite it chose fails here, and is passed over)
    assert len(made) == 2 and min(made) == 1
    pays = (r"Policy chose: state the answer format( and add demonstrations)? \(p = [01]\.\d\d, its choice 1 of "
            r"this iteration\)\. ")
    assert re.match(pays, made[1].note), made[1].note  # the edit that pays was its first choice
    assert re.match(r"Policy chose: .+ \(p = [01]\.\d\d, its choice [2-7] of this iteration\)\. ",
                    made[max(made)].note)

    client.force_login(editor)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert best.note.split(". ")[0] in page


def test_the_policy_stops_a_run_once_an_iteration_shows_no_edit_is_worth_its_calls(dataset, student):
    student.answers = {}  # a model no prompt helps: every edit only costs
    # Two edits an iteration, of the four this table lets the start make: after the first iteration, stopping and
    # the two edits left are what it chooses between (with four, the first iteration would leave it no other choice).
    train_and_save(dataset, call_price=0.02, candidates_per_iteration=2)
    run = run_to_the_end(start_run(dataset, strategy="policy", patience=5, candidates_per_iteration=2))
    assert run.status == "succeeded", run.last_error
    assert run.stop_reason.startswith("The policy chose to stop (p = ")
    first, second = run.iterations.order_by("number")
    assert first.candidates.exists() and not second.candidates.exists()  # it tried before it concluded
    assert run.best_version == run.start_version


def test_a_live_run_shows_the_policy_what_the_replayed_environment_showed_it(dataset, student):
    from optimization import loop
    from optimization.strategies.policy import observation

    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    env = PromptEditEnv([table])
    replayed, _ = env.reset(seed=0)
    run = start_run(dataset)  # the same examples, seed and default starting prompt as the table
    loop.run_next_step(run.pk)  # the start answers the validation examples
    loop.run_next_step(run.pk)  # and is scored
    run.refresh_from_db()
    situation = loop.situation_for(run)
    live = observation(situation)
    differ = {name for name, a, b in zip(FEATURES, live, replayed) if a != pytest.approx(b)}
    assert differ == set()  # budget left too: the start's answers came from the cache the table filled
    assert live[FEATURES.index("answer-format failures")] == 1.0
    # and the iteration's next choice, after one
    replayed, _, _, _, _ = env.step(ACTIONS.index("add_demonstrations"))
    live = observation(situation, ["add_demonstrations"])
    assert {name for name, a, b in zip(FEATURES, live, replayed) if a != pytest.approx(b)} == set()
    assert live[FEATURES.index("chosen: add_demonstrations")] == 1.0


def test_a_benchmarks_kept_table_is_read_only_when_built_from_the_same_starting_prompt(dataset, student, tmp_path):
    from benchmarks.policy import table_of

    parameters = {"primary_provider": "openai", "optimizer_provider": "openai", "examples_per_split": 10}
    kept = tmp_path / "kept"
    table, read = table_of("sports", dataset, parameters, kept)
    assert read is None
    again, read = table_of("sports", dataset, parameters, kept)
    assert read == kept / "sports.json" and again == table

    table["states"][table["start"]]["prompt"]["system_prompt"] = "An earlier default starting prompt."
    (kept / "sports.json").write_text(json.dumps(table))
    current, read = table_of("sports", dataset, parameters, kept)
    assert read is None and current["states"][current["start"]]["prompt"]["system_prompt"] != (
        "An earlier default starting prompt.")


def test_the_benchmark_trains_its_policies_in_episodes_shaped_like_its_runs(dataset, student):
    from benchmarks.policy import train_without

    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    name = train_without("other", {"sports": table}, 0, 64, {"max_iterations": 3, "examples_per_split": 10})
    record = json.loads(default_storage.open(training.record_name(name)).read())
    assert (record["environment"]["max_iterations"], record["environment"]["candidates_per_iteration"]) == (3, 4)


def test_training_episodes_default_to_a_default_runs_shape_and_target():
    # The environment cannot import the models without a circle (models, parameters, strategies, policy): its
    # defaults restate the run's.
    from optimization.models import Run
    from optimization.policy import env

    defaults = {name: Run._meta.get_field(name).default for name in ("max_iterations", "candidates_per_iteration",
                                                                     "target")}
    assert defaults == {"max_iterations": env.MAX_ITERATIONS, "candidates_per_iteration": env.CANDIDATES_PER_ITERATION,
                        "target": env.TARGET}
