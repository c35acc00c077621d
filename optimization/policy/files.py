"""Where a policy's files are read from: storage, where `manage.py train_policy` keeps them, or, for a name that
storage does not hold, the policy shipped with the code under the same file name (`shipped/`: the default
policy, trained on the five BIG-bench tasks; README, "The learning optimizer"). A policy trained here under the
same name takes the shipped one's place without touching it.

No torch or gymnasium here: the strategy checks that a policy exists when a run is created."""

from pathlib import Path, PurePosixPath

from django.core.files.storage import default_storage

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def exists(name):
    return default_storage.exists(name) or _shipped(name).is_file()


def read(name):
    """The bytes of the policy file `name`, from storage, else shipped (FileNotFoundError if neither has it)."""
    if default_storage.exists(name):
        with default_storage.open(name) as stored:
            return stored.read()
    return _shipped(name).read_bytes()


def _shipped(name):
    return SHIPPED_DIR / PurePosixPath(name).name
