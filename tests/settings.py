"""The settings the tests run with: the project's, read from the environment as always, with a key for tests when
the environment has none (DEBUG is off, and the settings refuse to start without a key then).

Set in the environment, so that the processes the tests start (`manage.py worker`, a server) have it too."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "x" * 40)

from promptopt.settings import *  # noqa: E402, F403
