"""The uniform policy: every edit that applies equally probable, stopping never. It is the floor a trained policy
is measured against (benchmarks.policy's random arm), and it runs through the same strategy as a trained one: the
`policy` strategy chooses an iteration's edits one after another, each the most probable not chosen yet, ties in a
random order, so each iteration's edits are a uniform draw among those that apply.

It is kept as one JSON file, its own record (`training.load` reads it), so POLICY_FILE can name it.
"""

import json

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from optimization.strategies.edits import ACTIONS, STOP

from .features import FEATURES

KIND = "uniform"


class UniformPolicy:
    def __init__(self, record):
        self.record = record

    def probabilities(self, observation, masks):
        edits = np.asarray([allowed and action != STOP for action, allowed in zip(ACTIONS, masks)], dtype=float)
        return edits / edits.sum() if edits.any() else edits  # stop never


def save(name):
    """Keep the uniform policy under `name` (ending in .json: the file is its own record)."""
    if not name.endswith(".json"):
        raise ValueError("The uniform policy is one JSON file: its name ends in .json.")
    record = {"kind": KIND, "features": list(FEATURES), "actions": list(ACTIONS)}
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(json.dumps(record, indent=2).encode()))
