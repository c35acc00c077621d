"""The environment of prompt edits, replayed from tables (replay.py, reachable.py): no model is called in a step.

An episode is a run on one task (a table drawn at random at reset), from the starting prompt, in iterations of
`candidates_per_iteration` edits, as the loop makes them:

    observation  features.observe() of the current best prompt and the run so far, and which edits this
                 iteration has chosen already
    action       one of strategies.edits.ACTIONS: an edit of the current best that can change it (edits.applicable)
                 and that this iteration has not chosen, or, as an iteration's first choice, stop once an iteration
                 has gained nothing (action_masks, which sb3-contrib's MaskablePPO reads)
    reward       what the edit adds to the iteration's gain: how far its prompt's validation score rises above both
                 the current best's and the iteration's earlier choices', minus `call_price` per LLM call the edit
                 costs (its optimizer calls, and answering the validation examples unless its prompt was answered
                 before in the episode: the loop never scores a prompt twice). An iteration's rewards add up to its
                 gain less its calls.
    end          stop, or the target reached after an iteration (terminated); `max_iterations` iterations or the
                 call budget spent (truncated)

As in the loop, the iteration's best prompt becomes the current best once its edits are made, and only when it
scores better; of choices that score the same, the shorter prompt (the loop calls a tie by its paired test, which
a table's scores cannot replay, and then takes the shorter prompt too). Until then every choice starts from the
same prompt and sees the same observation, less the edits chosen: the iteration and the budget left are those at
the iteration's start, as a live iteration's situation shows them. An episode's iterations and choices per
iteration are a run's defaults unless training is told otherwise (benchmarks.policy trains at its runs' settings).

Why iterations and not one edit a step: a live iteration makes k edits from one situation, and a policy trained
one edit a step had learned only its first choice there; its second to k-th were whatever its near-zero
probabilities ranked (benchmarks.policy, README). Here each choice of an iteration is trained for what it adds to
the others.

Why stop waits for an iteration that gained nothing: a policy learns when to stop from a handful of training tasks,
and the task's features in the observation let it recognise them; left free, it learned "stop at once" on the tasks
where nothing paid and carried that to a new task, which it then never tried (benchmarks.policy, README). Stopping
on a task is a conclusion about that task, so it waits for evidence from it: the last iteration gained nothing. The
live strategy applies the same rule.

Why an edit that cannot change the prompt is no action: in a table it is free and changes nothing, like stopping,
and a policy learned to repeat one (state the format twice) instead of trying another edit, where a live run passes
over it to the next edit. A live run offers the policy the same applicable edits (edits.applicable). In a table an
edit whose prompt was answered before in the episode is no action either: it leads to the same prompt every time
(its draw of demonstrations is fixed, a rewrite that failed leads nowhere), so it would be a free way to make "an
iteration that gained nothing" and unlock stop.
"""

import gymnasium
import numpy as np
from gymnasium import spaces

from optimization.strategies import prompt_length
from optimization.strategies.edits import ACTIONS, STOP, applicable

from .features import FEATURES, observe
from .reachable import candidate, moves

CALL_PRICE = 0.0005  # reward given up per LLM call: 40 answered examples cost 0.02, a 1-in-50 gain
MAX_ITERATIONS = 10  # a run's default, as the iteration feature is a share of it
CANDIDATES_PER_ITERATION = 4  # a run's default
TARGET = 0.9  # a run's default target


def action_masks(*, candidate, last_gained, known=(), chosen=()):
    """Which actions may be taken from the prompt `candidate`: the edits that can change it, less those in `known`
    (whose prompt was answered already) and in `chosen` (by this iteration already); stop only as an iteration's
    first choice, and then when the last iteration gained nothing (before any, count it as a gain: nothing yet says
    that edits do not pay on this task) or when no edit is left."""
    edits = applicable(candidate)
    allowed = [edits[action] and action not in known and action not in chosen for action in ACTIONS if action != STOP]
    return np.array([*allowed, not chosen and (not last_gained or not any(allowed))])


class PromptEditEnv(gymnasium.Env):
    metadata = {"render_modes": []}

    def __init__(self, tables, *, call_price=CALL_PRICE, max_iterations=MAX_ITERATIONS,
                 candidates_per_iteration=CANDIDATES_PER_ITERATION, target=TARGET):
        if not tables:
            raise ValueError("The environment needs at least one replay table.")
        self.tables = list(tables)
        self.moves = [moves(table) for table in self.tables]
        self.call_price, self.max_iterations, self.target = call_price, max_iterations, target
        self.candidates_per_iteration = candidates_per_iteration
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.Discrete(len(ACTIONS))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        drawn = int(self.np_random.integers(len(self.tables)))
        self.table, self.table_moves = self.tables[drawn], self.moves[drawn]
        self.best = self.table["start"]
        self.answered = {self.best}
        self.iterations = self.spent = self.spent_before = 0  # spent_before: by the iteration's start
        self.chosen, self.leader = [], self.best  # this iteration's edits, and the best prompt they reached
        self.gained = True  # by the last iteration (see action_masks)
        # answering every candidate of every iteration
        self.budget = self.max_iterations * self.candidates_per_iteration * len(self.table["expected"])
        return self._observe(), self._info()

    def step(self, action):
        name = ACTIONS[int(action)]
        if name == STOP:
            return self._observe(), 0.0, True, False, self._info(action=name, calls=0)
        move = self.table_moves[self.best][name]
        target = move["next"]
        calls = move["calls"]
        if target in self.answered and target != self.best:  # answered before: the loop would not ask again
            calls -= len(self.table["expected"])
        self.answered.add(target)
        self.chosen.append(name)
        gain = max(0.0, self._score(target) - self._score(self.leader))
        if gain > 1e-9 or (self.leader != self.best and self._score(target) == self._score(self.leader)
                           and self._length(target) < self._length(self.leader)):
            self.leader = target
        self.spent += calls
        reward = gain - self.call_price * calls
        terminated = truncated = False
        if len(self.chosen) >= self.candidates_per_iteration or not any(self.action_masks()):
            terminated, truncated = self._end_iteration()
        return self._observe(), float(reward), terminated, truncated, self._info(action=name, calls=calls)

    def _end_iteration(self):
        """The iteration's best prompt becomes the current best when it gained; (terminated, truncated)."""
        self.gained = self.leader != self.best
        self.best = self.leader
        self.chosen = []
        self.iterations += 1
        self.spent_before = self.spent
        terminated = self._score(self.best) >= self.target
        return terminated, not terminated and (self.iterations >= self.max_iterations or self.spent >= self.budget)

    def action_masks(self):
        # In a table an edit leads to one prompt, however often it is made: once answered, making it again would be
        # free and tell nothing, where a live run would pass over the same prompt (its history) or draw a new one.
        known = {name for name, move in self.table_moves[self.best].items() if move["next"] in self.answered}
        return action_masks(candidate=self._candidate(), last_gained=self.gained, known=known, chosen=self.chosen)

    def _candidate(self):
        return candidate(self.table, self.best)

    def _score(self, key):
        return self.table["states"][key]["score"]

    def _length(self, key):
        return prompt_length(candidate(self.table, key))

    def _observe(self):
        state = self.table["states"][self.best]
        return observe(
            candidate=self._candidate(),
            score=state["score"],
            outputs=state["outputs"],
            expected=self.table["expected"],
            task=self.table["task"],
            iteration_share=self.iterations / self.max_iterations,
            budget_left=max(0.0, 1 - self.spent_before / self.budget),
            chosen=self.chosen,
        )

    def _info(self, **extra):
        return {"task": self.table["dataset"]["name"], "best": self.best, "score": self._score(self.best), **extra}
