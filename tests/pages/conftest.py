"""A team's dataset, prompt and runs for the page tests, a viewer and a second approver beside the root conftest's
members, and uploads kept in a temporary folder."""

import io
import json

import pytest

from datasets.services import dataset_import
from optimization.services import prompt_create, run_create
from tests.pages.support import RUN_PARAMETERS, SYSTEM_TEXT, student_for
from tests.support.people import BIGBENCH
from tests.test_loop import run_to_the_end


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads kept between the preview and the import land here, not in var/."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def dataset(team, editor):
    task = json.loads((BIGBENCH / "sports_understanding.json").read_text())
    task["examples"] = task["examples"][:60]
    return dataset_import(team=team, name="sports", file=io.BytesIO(json.dumps(task).encode()), filename="t.json",
                          created_by=editor)


@pytest.fixture
def prompt(team, editor):
    return prompt_create(team=team, name="Sports judge", system_prompt=SYSTEM_TEXT, created_by=editor)


@pytest.fixture
def version(prompt):
    return prompt.versions.get()


@pytest.fixture
def finished_run(dataset, version, editor, settings):
    with student_for(dataset, settings):
        run = run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)
        return run_to_the_end(run)


@pytest.fixture
def queued_run(dataset, version, editor):
    return run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)
