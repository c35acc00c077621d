"""The policy shipped with the code (optimization/policy/shipped/): what a `policy` run uses while storage holds
none under the POLICY_FILE name, and what a policy trained here under that name replaces."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from optimization.policy import files, training
from optimization.services import prompt_create, run_create
from optimization.strategies.edits import ACTIONS
from optimization.strategies.policy import masks, observation
from tests import test_loop
from tests.test_loop import run_to_the_end, start_run

DEFAULT = "policies/default.zip"


@pytest.fixture(autouse=True)
def empty_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.POLICY_FILE = DEFAULT


@pytest.fixture
def start(dataset):
    return prompt_create(team=dataset.team, name="sports").versions.get()


def shipped_record():
    return json.loads((files.SHIPPED_DIR / "default.json").read_text())


def test_the_default_policy_ships_with_the_code_and_loads_as_trained():
    assert (files.SHIPPED_DIR / "default.zip").is_file()
    policy = training.load(DEFAULT)  # checks the record's features and actions against this code's
    assert isinstance(policy, training.TrainedPolicy)
    record = shipped_record()
    assert sorted(d["name"] for d in record["datasets"]) == [
        "entailed_polarity", "intent_recognition", "object_counting", "sports_understanding", "tense"]


def test_a_run_of_the_policy_strategy_is_accepted_with_nothing_in_storage(dataset, start):
    run = run_create(dataset=dataset, start_version=start, strategy="policy", enqueue=False)
    assert run.strategy == "policy"


def test_the_shipped_policy_gives_the_allowed_actions_a_probability_and_stop_none_before_an_edit_gained_nothing(
    dataset, start
):
    from optimization import loop
    from optimization.strategies import Situation

    situation = Situation(current=loop.candidate_of(start), history=[], failures=[],
                          train=[("Is it?", "yes"), ("Is it not?", "no")], choices=["yes", "no"], k=1,
                          iteration=1, rng=None, max_iterations=3, budget_left=1.0,
                          answers=[("Well.", "yes"), ("no", "no")])
    policy = training.load(DEFAULT)
    first = policy.probabilities(observation(situation), masks(situation))
    assert len(first) == len(ACTIONS) and first.sum() == pytest.approx(1, abs=1e-5)
    assert first[ACTIONS.index("stop")] == 0
    situation.iteration, situation.iterations_without_improvement = 2, 1
    later = policy.probabilities(observation(situation), masks(situation))
    assert later.sum() == pytest.approx(1, abs=1e-5) and later[ACTIONS.index("stop")] > 0


def test_a_policy_kept_in_storage_under_the_same_name_takes_the_shipped_ones_place():
    shipped = files.read(DEFAULT)
    default_storage.save(DEFAULT, ContentFile(b"trained here"))
    assert files.read(DEFAULT) == b"trained here" and (files.SHIPPED_DIR / "default.zip").read_bytes() == shipped


def test_a_policy_of_an_earlier_version_that_could_stop_at_once_is_refused_with_what_to_do():
    record = {**shipped_record()}
    del record["algorithm"]
    default_storage.save("policies/old.zip", ContentFile(files.read(DEFAULT)))
    default_storage.save("policies/old.json", ContentFile(json.dumps(record).encode()))
    with pytest.raises(Exception, match="trained by an earlier version.*train it again with manage.py train_policy"):
        training.load("policies/old.zip")


def test_a_name_neither_storage_nor_the_code_has_is_refused():
    assert not files.exists("policies/nowhere.zip")
    with pytest.raises(Exception, match="No trained policy at 'policies/nowhere.zip'"):
        training.load("policies/nowhere.zip")


student = test_loop.student  # the loopback model, a fixture here too


def test_a_policy_run_goes_to_the_end_on_the_shipped_policy_alone(dataset, student):
    run = run_to_the_end(start_run(dataset, strategy="policy", candidates_per_iteration=2, max_iterations=2))
    assert run.status == "succeeded", run.last_error
    notes = [version.note for iteration in run.iterations.all() for version in iteration.candidates.all()]
    assert all(note.startswith("Policy chose: ") for note in notes)
    assert notes or run.stop_reason.startswith("The policy chose to stop")
