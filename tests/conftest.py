import io
import json

import pytest
from django.test import Client

from datasets.services import dataset_import
from promptopt.teams.models import Role, Team
from tests.support.people import BIGBENCH, member

pytest_plugins = [
    "tests.loopback.fixtures",  # the loopback LLM servers, for any test that asks for them
    "tests.gcs",  # Google Cloud Storage on the emulator, for any test that asks for gcs_bucket
]


@pytest.fixture
def team(db):
    return Team.objects.create(name="Search quality")


@pytest.fixture
def other_team(db):
    return Team.objects.create(name="Other team")


@pytest.fixture
def editor(team):
    return member(team, "erin", Role.EDITOR)


@pytest.fixture
def approver(team):
    return member(team, "alex", Role.APPROVER)


@pytest.fixture
def second_approver(team):
    return member(team, "bea", Role.APPROVER)


@pytest.fixture
def viewer(team):
    return member(team, "vic", Role.VIEWER)


@pytest.fixture
def stranger(other_team):
    return member(other_team, "sam", Role.APPROVER)


@pytest.fixture
def person(editor):
    """An editor, signed in."""
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    """Pages render without `collectstatic`: the manifest storage is for served deployments."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }




@pytest.fixture
def dataset(team):
    """The first 60 examples of BIG-bench's sports_understanding (36 train, 12 validation, 12 test)."""
    task = json.loads((BIGBENCH / "sports_understanding.json").read_text())
    task["examples"] = task["examples"][:60]
    return dataset_import(team=team, name="sports", file=io.BytesIO(json.dumps(task).encode()), filename="t.json")
