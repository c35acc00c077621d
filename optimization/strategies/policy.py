"""The learning optimizer: a PPO policy, trained offline on replay tables (optimization/policy/), picks the edits.

From the run's situation it builds the observation the policy saw in training and chooses the iteration's k edits
one after another, as the policy was trained to (policy/env.py): each time it asks how probable each action is,
knowing the edits chosen already, and makes the most probable edit that applies and is not chosen yet. An edit that
makes no new prompt (a rewrite that failed, a prompt answered before) is passed over and not counted as chosen: in
a replay table it would have been no action. Each candidate's note says which action it was and how probable the
policy found it, or that it was the only edit left. When stopping is the most probable choice before any edit was
made, the run stops iterating.

The policy is the file the POLICY_FILE setting names in storage, else the one shipped with the code under that
file name (optimization/policy/files.py). Without either, a run of this strategy is refused
at creation (services.run_create): falling back to a fixed order would make a run that says "policy" and is not.
"""

import dataclasses
import random

from django.conf import settings

from optimization.policy import files as policy_files
from promptopt.errors import PromptOptError

from . import OptimizerError, StopOptimizing
from .edits import ACTIONS, EDIT_BY_NAME, EDITS, LABELS, STOP

DESCRIPTION = "A PPO policy trained offline (manage.py train_policy) picks the next edits from the run's situation."
# Per iteration, at worst: every edit that asks the optimizer model (both rewrites, 1 + 2).
OPTIMIZER_CALLS = sum(edit.optimizer_calls for edit in EDITS)
STOP_INDEX = ACTIONS.index(STOP)


def require_ready():
    """Refuse a run of this strategy before it starts when storage holds no trained policy."""
    if not policy_files.exists(settings.POLICY_FILE):
        raise PromptOptError(
            f"The policy strategy needs a trained policy, and storage has none at {settings.POLICY_FILE!r} (the "
            "POLICY_FILE setting), nor does the code ship one by that name. Train one with `manage.py train_policy "
            "--dataset NAME`, or choose another strategy."
        )


def observation(situation, chosen=()):
    from optimization.policy.features import observe, task_statistics

    scores = {candidate.key(): score for candidate, score in situation.history}
    done = (situation.iteration - 1) / situation.max_iterations if situation.max_iterations else 0.0
    return observe(
        candidate=situation.current,
        score=scores.get(situation.current.key(), 0.0),
        outputs=[output for output, _ in situation.answers],
        expected=[expected for _, expected in situation.answers],
        task=task_statistics([expected for _, expected in situation.train], situation.choices),
        iteration_share=done,
        budget_left=situation.budget_left,
        chosen=chosen,
    )


def masks(situation, chosen=(), known=()):
    from optimization.policy.env import action_masks

    return action_masks(candidate=situation.current, last_gained=situation.iterations_without_improvement == 0,
                        known=known, chosen=chosen)


def propose(situation):
    from optimization.policy import training

    policy = training.load(settings.POLICY_FILE)
    seen = {candidate.key() for candidate, _ in situation.history} | {situation.current.key()}
    # Ties are broken with a stream of their own, derived from the iteration's without drawing from it: the first
    # edit of an iteration that draws demonstrations then draws what the fixed order's first one draws from the same
    # prompt, so that arms compared on one seed differ by the edits they choose rather than by that draw.
    ties = random.Random(repr(situation.rng.getstate()))
    proposals, errors, chosen = [], [], []
    # Edits that made no new prompt (a rewrite that failed, a prompt answered before): in a replay table they would
    # have been no action, so they are masked like one and not shown to the policy as chosen.
    made_nothing = []
    while len(proposals) < situation.k:
        allowed = masks(situation, chosen, made_nothing)
        edits_left = any(mask for index, mask in enumerate(allowed) if index != STOP_INDEX)
        if not allowed.any() or (made_nothing and not edits_left):
            break  # once edits were tried, "no edit left" is no reason to stop the run
        probabilities = policy.probabilities(observation(situation, chosen), allowed)
        order = [index for index in range(len(ACTIONS)) if allowed[index]]
        ties.shuffle(order)  # ties (the uniform policy's; a trained one's seldom tie) in a random order
        index = max(order, key=lambda i: probabilities[i])
        name = ACTIONS[index]
        if name == STOP:
            tried = f" (before that: {' '.join(errors)})" if errors else ""
            raise StopOptimizing(f"The policy chose to stop (p = {probabilities[index]:.2f}): it expects no edit "
                                 f"to gain more than its calls cost.{tried}")
        try:
            candidate = EDIT_BY_NAME[name].apply(situation.current, situation)
        except OptimizerError as exc:
            errors.append(exc.message)
            candidate = None
        if candidate is None or candidate.key() in seen:
            made_nothing.append(name)
            continue
        seen.add(candidate.key())
        chosen.append(name)
        how = "the only edit left" if allowed.sum() == 1 else f"p = {probabilities[index]:.2f}"
        why = f"Policy chose: {LABELS[name]} ({how}, its choice {len(chosen)} of this iteration)"
        proposals.append(dataclasses.replace(candidate, note=f"{why}. {candidate.note}"))
    if not proposals and errors:
        raise OptimizerError(" ".join(errors))
    if not proposals and made_nothing:
        raise OptimizerError("No new prompt: every edit the policy chose made one this run has scored already ("
                             f"{', '.join(LABELS[name] for name in made_nothing)}).")
    return proposals
