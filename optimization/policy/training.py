"""PPO trained on replay tables, and kept through Django's storage with what it saw.

The PPO is sb3-contrib's MaskablePPO (stable-baselines3's PPO that reads the environment's action masks): stop is
an action only as an iteration's first choice once an iteration has gained nothing (env.action_masks), in training
and in a live run alike.

A policy is two files in storage (or shipped with the code: files.py): NAME (stable-baselines3's zip) and NAME
with .json for a suffix (the datasets and tables it was trained on, their sizes, the seed, the hyperparameters,
the features and actions, the versions of the libraries). torch and stable-baselines3 are imported here only
inside functions: a page, the API or a run of another strategy never pays for loading them.
"""

import io
import json
import platform
import time
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from optimization.strategies.edits import ACTIONS
from promptopt.errors import PromptOptError

from . import files, uniform
from .env import CALL_PRICE, CANDIDATES_PER_ITERATION, MAX_ITERATIONS, TARGET, PromptEditEnv
from .features import FEATURES

# Small on purpose: the tables hold a few dozen states, and training must fit beside the embedded model.
HYPERPARAMETERS = {
    "n_steps": 256, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4, "gamma": 0.95, "gae_lambda": 0.95,
    "ent_coef": 0.01, "clip_range": 0.2, "net_arch": [64, 64],
}
TIMESTEPS = 50_000
ALGORITHM = "MaskablePPO"  # a record without it is of a policy this version cannot ask the same way


def _torch():
    import torch

    torch.set_num_threads(1)  # two cores, shared with the embedded model and the web process
    return torch


def train(tables, *, timesteps=TIMESTEPS, seed=0, call_price=CALL_PRICE, max_iterations=MAX_ITERATIONS,
          candidates_per_iteration=CANDIDATES_PER_ITERATION, target=TARGET, hyperparameters=None):
    """A PPO policy trained on the replayed environment of `tables`, and the record of what it saw."""
    _torch()
    from sb3_contrib import MaskablePPO

    chosen = {**HYPERPARAMETERS, **(hyperparameters or {})}
    ppo_arguments = {name: value for name, value in chosen.items() if name != "net_arch"}
    environment = {"call_price": call_price, "max_iterations": max_iterations,
                   "candidates_per_iteration": candidates_per_iteration, "target": target}
    env = PromptEditEnv(tables, **environment)
    model = MaskablePPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                        policy_kwargs={"net_arch": list(chosen["net_arch"])}, **ppo_arguments)
    started = time.monotonic()
    model.learn(total_timesteps=timesteps)
    return model, {
        "datasets": [table["dataset"] for table in tables],
        "tables": [{"dataset": table["dataset"]["name"], "states": len(table["states"]),
                    "prompts_answered": table["llm_calls"]["prompts"], "validation_examples": len(table["expected"]),
                    "parameters": table["parameters"], "rewrite_errors": table["rewrite_errors"]}
                   for table in tables],
        "environment": environment,
        "algorithm": ALGORITHM,
        "seed": seed,
        "timesteps": timesteps,
        "hyperparameters": chosen,
        "features": list(FEATURES),
        "actions": list(ACTIONS),
        "training_seconds": round(time.monotonic() - started, 1),
        "versions": _versions(),
    }


def _versions():
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "stable-baselines3", "sb3-contrib", "gymnasium", "numpy")}}


def record_name(name):
    return str(PurePosixPath(name).with_suffix(".json"))


def save(model, record, name):
    """Keep the policy and its record in storage under `name`, replacing any there."""
    buffer = io.BytesIO()
    model.save(buffer)
    for path, content in ((name, buffer.getvalue()), (record_name(name), json.dumps(record, indent=2).encode())):
        if default_storage.exists(path):
            default_storage.delete(path)
        default_storage.save(path, ContentFile(content))


class TrainedPolicy:
    """A policy loaded from storage: the probability of each action for an observation, 0 for a masked one."""

    def __init__(self, model, record):
        self.model, self.record = model, record

    def probabilities(self, observation, masks):
        torch = _torch()
        with torch.no_grad():
            tensor, _ = self.model.policy.obs_to_tensor(observation)
            distribution = self.model.policy.get_distribution(tensor, action_masks=masks)
            return distribution.distribution.probs[0].cpu().numpy()


def load(name):
    """The policy kept under `name` (in storage, else shipped with the code), checked against the features and
    actions this code has."""
    if not files.exists(name):
        raise PromptOptError(f"No trained policy at {name!r} in storage or shipped with the code; train one with "
                             "manage.py train_policy.")
    _torch()
    from sb3_contrib import MaskablePPO

    record = json.loads(files.read(record_name(name)))
    if record.get("features") != list(FEATURES) or record.get("actions") != list(ACTIONS):
        raise PromptOptError(f"The policy at {name!r} was trained on other features or actions than this version "
                             "has; train it again with manage.py train_policy.")
    if record.get("kind") == uniform.KIND:
        return uniform.UniformPolicy(record)
    if record.get("algorithm") != ALGORITHM:
        raise PromptOptError(f"The policy at {name!r} was trained by an earlier version, whose policy could stop "
                             "before trying any edit; train it again with manage.py train_policy.")
    model = MaskablePPO.load(io.BytesIO(files.read(name)), device="cpu")
    return TrainedPolicy(model, record)
