"""The uniform policy, the floor a trained policy is measured against: run through the policy strategy, it draws
each iteration's edits among those that apply, says how probable each was, and never stops a run itself."""

import re

import numpy as np
import pytest

from optimization.policy import training, uniform
from optimization.strategies.edits import ACTIONS
from tests import test_loop
from tests.test_loop import run_to_the_end, start_run

student = test_loop.student  # the loopback model, a fixture here too
APPLICABLE = {"state the answer format", "add demonstrations", "state the answer format and add demonstrations",
              "limit the answer's length"}


@pytest.fixture(autouse=True)
def uniform_policy(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.POLICY_FILE = "policies/uniform.json"
    uniform.save(settings.POLICY_FILE)


def test_it_is_kept_as_one_file_and_loads_without_torch_weights(settings):
    policy = training.load(settings.POLICY_FILE)
    probabilities = policy.probabilities(None, np.ones(len(ACTIONS), dtype=bool))
    assert probabilities[ACTIONS.index("stop")] == 0
    edits = len(ACTIONS) - 1
    assert list(probabilities[:-1]) == pytest.approx([1 / edits] * edits) and probabilities.sum() == pytest.approx(1)
    with pytest.raises(ValueError):
        uniform.save("policies/uniform.zip")


def test_only_the_edits_that_apply_are_drawn(settings):
    allowed = np.array([action in {"add_demonstrations", "critique"} for action in ACTIONS])
    probabilities = training.load(settings.POLICY_FILE).probabilities(None, allowed)
    assert list(probabilities) == pytest.approx([0.5 if mask else 0 for mask in allowed])


def test_each_runs_edit_is_a_draw_among_those_that_apply(dataset, student):
    # With no demonstrations yet there are none to swap: six edits apply to the starting prompt (p = 1/6). The
    # student's optimizer answers are no JSON, so both rewrites fail and are passed over for a draw among the
    # others (p = 1/5, then 1/4), not counted as chosen: four are made, each the iteration's choice 1.
    chosen = []
    for seed in range(8):
        run = run_to_the_end(start_run(dataset, strategy="policy", candidates_per_iteration=1, max_iterations=1,
                                       seed=seed, prompt_name=f"uniform {seed}"))
        assert run.status == "succeeded", run.last_error
        assert not run.stop_reason.startswith("The policy chose to stop")
        [candidate] = run.iterations.get().candidates.all()
        label, p, choice = re.match(r"Policy chose: (.+) \(p = (0\.\d\d), its choice (\d) of this iteration\)\. ",
                                    candidate.note).groups()
        assert choice == "1" and any(float(p) == pytest.approx(1 / n, abs=0.005) for n in (6, 5, 4)), candidate.note
        chosen.append(label)
    assert set(chosen) <= APPLICABLE
    assert len(set(chosen)) >= 2, chosen  # a fixed order would take the same edit every time
