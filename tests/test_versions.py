"""Prompt versions: numbered per prompt, never reused, immutable once saved."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from optimization.models import Prompt, PromptVersion, VersionStatus


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
