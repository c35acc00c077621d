"""The environment of prompt edits, replayed from tables (replay.py, reachable.py): no model is called in a step.

An episode is a run on one task (a table drawn at random at reset), from the starting prompt:

    observation  features.observe() of the current best prompt and the run so far
    action       one of strategies.edits.ACTIONS: an edit of the current best that can change it (edits.applicable),
                 or stop once an edit has gained nothing (action_masks, which sb3-contrib's MaskablePPO reads)
    reward       the gain in the best validation score, minus `call_price` per LLM call the edit costs
                 (its optimizer calls, and answering the validation examples unless its prompt was answered
                 before in the episode: the loop never scores a prompt twice)
    end          stop, the target reached (terminated); `max_steps` edits or the call budget spent (truncated)

As in the loop, an edit's prompt becomes the current best only when it scores better.

Why stop waits for an edit that gained nothing: a policy learns when to stop from a handful of training tasks, and
the task's features in the observation let it recognise them; left free, it learned "stop at once" on the tasks
where nothing paid and carried that to a new task, which it then never tried (benchmarks.policy, README). Stopping
on a task is a conclusion about that task, so it waits for evidence from it: the last edit gained nothing. The
live strategy applies the same rule to its iterations.

Why an edit that cannot change the prompt is no action: in a table it is free and changes nothing, like stopping,
and a policy learned to repeat one (state the format twice) instead of trying another edit, where a live run passes
over it to the next edit. A live run offers the policy the same applicable edits (edits.applicable). In a table an
edit whose prompt was answered before in the episode is no action either: it leads to the same prompt every time
(its draw of demonstrations is fixed, a rewrite that failed leads nowhere), so it would be a free way to make "an
edit that gained nothing" and unlock stop.
"""

import gymnasium
import numpy as np
from gymnasium import spaces

from optimization.strategies.edits import ACTIONS, STOP, applicable

from .features import FEATURES, observe
from .reachable import candidate, moves

CALL_PRICE = 0.0005  # reward given up per LLM call: 40 answered examples cost 0.02, a 1-in-50 gain
MAX_STEPS = 10
TARGET = 0.9  # a run's default target


def action_masks(*, candidate, last_gained, known=()):
    """Which actions may be taken from the prompt `candidate`: the edits that can change it, less those in `known`
    (whose prompt was answered already), and stop only when the last edit gained nothing (before any edit, count it
    as a gain: nothing yet says that edits do not pay on this task) or when no edit is left."""
    edits = applicable(candidate)
    allowed = [edits[action] and action not in known for action in ACTIONS if action != STOP]
    return np.array([*allowed, not last_gained or not any(allowed)])


class PromptEditEnv(gymnasium.Env):
    metadata = {"render_modes": []}

    def __init__(self, tables, *, call_price=CALL_PRICE, max_steps=MAX_STEPS, target=TARGET):
        if not tables:
            raise ValueError("The environment needs at least one replay table.")
        self.tables = list(tables)
        self.moves = [moves(table) for table in self.tables]
        self.call_price, self.max_steps, self.target = call_price, max_steps, target
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.Discrete(len(ACTIONS))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        drawn = int(self.np_random.integers(len(self.tables)))
        self.table, self.table_moves = self.tables[drawn], self.moves[drawn]
        self.best = self.table["start"]
        self.answered = {self.best}
        self.steps = self.spent = 0
        self.gained = True  # by the last edit (see action_masks)
        self.budget = self.max_steps * len(self.table["expected"])  # answering one candidate per step
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
        gain = max(0.0, self._score(target) - self._score(self.best))
        self.gained = gain > 1e-9
        if self.gained:
            self.best = target
        self.steps += 1
        self.spent += calls
        terminated = self._score(self.best) >= self.target
        truncated = not terminated and (self.steps >= self.max_steps or self.spent >= self.budget)
        reward = gain - self.call_price * calls
        return self._observe(), float(reward), terminated, truncated, self._info(action=name, calls=calls)

    def action_masks(self):
        # In a table an edit leads to one prompt, however often it is made: once answered, making it again would be
        # free and tell nothing, where a live run would pass over the same prompt (its history) or draw a new one.
        known = {name for name, move in self.table_moves[self.best].items() if move["next"] in self.answered}
        return action_masks(candidate=self._candidate(), last_gained=self.gained, known=known)

    def _candidate(self):
        return candidate(self.table, self.best)

    def _score(self, key):
        return self.table["states"][key]["score"]

    def _observe(self):
        state = self.table["states"][self.best]
        return observe(
            candidate=self._candidate(),
            score=state["score"],
            outputs=state["outputs"],
            expected=self.table["expected"],
            task=self.table["task"],
            iteration_share=self.steps / self.max_steps,
            budget_left=max(0.0, 1 - self.spent / self.budget),
        )

    def _info(self, **extra):
        return {"task": self.table["dataset"]["name"], "best": self.best, "score": self._score(self.best), **extra}
