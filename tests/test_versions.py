"""Prompt versions: numbered per prompt, never reused, immutable once saved; a person writes a new one from an
earlier one by the same rules in the pages and over the API (optimization.services.version_create)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from optimization.models import Prompt, PromptVersion, VersionStatus
from optimization.services import prompt_create
from promptopt.teams.models import Role
from tests.support.api import isolate, token_client
from tests.support.people import member


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="classifier")


def new_version(prompt, text="Answer yes or no.", **kwargs):
    return PromptVersion.objects.create(prompt=prompt, system_prompt=text, output_instruction="{input}", **kwargs)


def test_numbers_count_up_per_prompt_and_are_never_reused(team, prompt):
    first, second = new_version(prompt), new_version(prompt)
    other = new_version(Prompt.objects.create(team=team, name="other"))
    assert (first.number, second.number, other.number) == (1, 2, 1)
    second.delete()
    assert new_version(prompt).number == 3


def test_a_saved_version_cannot_change_its_text(prompt):
    version = new_version(prompt)
    version.system_prompt = "Something else."
    with pytest.raises(ValidationError, match="immutable"):
        version.save()
    assert PromptVersion.objects.get(pk=version.pk).system_prompt == "Answer yes or no."


def test_its_status_can_change(prompt):
    version = new_version(prompt)
    version.status = VersionStatus.CANDIDATE
    version.save()
    assert PromptVersion.objects.get(pk=version.pk).status == "candidate"


def test_a_prompt_has_at_most_one_production_version(prompt):
    new_version(prompt, status=VersionStatus.PRODUCTION)
    with pytest.raises(IntegrityError), transaction.atomic():
        new_version(prompt, "Other text.", status=VersionStatus.PRODUCTION)


# ---------------------------------------------------------------------------------------------------------
# Writing a version from an earlier one: the pages and the API are two doors into version_create

DOORS = ["pages", "api"]
# What each door answers when it saves, when the rules refuse, and when the role is missing.
SAVED, REFUSED, FORBIDDEN = {"pages": 302, "api": 201}, {"pages": 200, "api": 400}, {"pages": 403, "api": 403}


@pytest.fixture
def written(team, editor, settings, tmp_path):
    isolate(settings, tmp_path)
    return prompt_create(team=team, name="judge", system_prompt="Judge.", output_instruction="{input}",
                         created_by=editor)


def write(door, user, parent, **texts):
    """Write a version from `parent` as a person does in the pages (the form comes filled with the parent's
    texts) or as a program does over the API (fields left out are the parent's)."""
    if door == "pages":
        client = Client()
        client.force_login(user)
        form = {"system_prompt": parent.system_prompt, "output_instruction": parent.output_instruction,
                "demonstrations": json.dumps(parent.demonstrations), "note": ""}
        form |= {key: json.dumps(value) if key == "demonstrations" else value for key, value in texts.items()}
        response = client.post(f"/prompts/{parent.prompt_id}/v{parent.number}/new/", form)
    else:
        response = token_client(user).post(f"/api/v1/prompts/{parent.prompt_id}/versions/",
                                           {"parent": parent.number, **texts}, format="json")
    return response.status_code, response.content.decode()


@pytest.mark.parametrize("door", DOORS)
def test_a_new_version_records_its_parent_and_author(door, written, editor):
    first = written.versions.get()
    status, _ = write(door, editor, first, system_prompt="Judge sports.",
                      demonstrations=[{"input": "A dunk in football", "output": "implausible"}], note="Narrower.")
    assert status == SAVED[door]
    new = written.versions.get(number=2)
    assert (new.parent, new.created_by, new.status, new.note) == (first, editor, VersionStatus.DRAFT, "Narrower.")
    assert (new.system_prompt, new.output_instruction) == ("Judge sports.", "{input}")
    assert new.demonstrations == [{"input": "A dunk in football", "output": "implausible"}]


@pytest.mark.parametrize("door", DOORS)
def test_a_version_the_same_as_its_parent_is_refused(door, written, editor):
    status, body = write(door, editor, written.versions.get(), note="Only a note.")
    assert status == REFUSED[door]
    assert "Nothing changed from v1; change the text first." in body
    assert written.versions.count() == 1


@pytest.mark.parametrize("door", DOORS)
def test_a_viewer_cannot_write_a_version(door, written, team):
    viewer = member(team, "vera", Role.VIEWER)
    status, body = write(door, viewer, written.versions.get(), system_prompt="Mine now.")
    assert status == FORBIDDEN[door]
    assert "You need the editor role in Search quality to do this." in body
    assert written.versions.count() == 1
