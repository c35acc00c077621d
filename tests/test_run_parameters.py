"""A run's parameters are declared once, on the Run model's fields. The launch page, the API and `manage.py
optimize` each offer every one of them, with the field's default, choices and bounds: a door that forgets a
parameter, or keeps its own default or bound, fails here."""

from types import SimpleNamespace

import pytest
from django.core.management import CommandError, load_command_class
from django.core.validators import MaxValueValidator, MinValueValidator

from optimization.api import RunCreateSerializer
from optimization.forms import RunForm
from optimization.management.commands.optimize import parameters_of
from optimization.models import Run
from optimization.services import prompt_create

FIELDS = {name: Run._meta.get_field(name) for name in Run.PARAMETERS}
BOUNDS = [
    (name, validator.limit_value, -1 if isinstance(validator, MinValueValidator) else 1)
    for name, field in FIELDS.items()
    for validator in field.validators
    if isinstance(validator, MinValueValidator | MaxValueValidator)
]


def defaults():
    return {name: field.get_default() for name, field in FIELDS.items()}


def serializer(user, data):
    return RunCreateSerializer(data=data, context={"request": SimpleNamespace(user=user)})


def command_parser():
    return load_command_class("optimization", "optimize").create_parser("manage.py", "optimize")


def command_option(name):
    return next(action for action in command_parser()._actions if action.dest == name)


def command_parameters(*args):
    return parameters_of(vars(command_parser().parse_args(["--dataset", "d", "--prompt", "p", *args])))


def test_the_page_shows_every_parameter_at_its_default(editor, dataset):
    shown = RunForm(editor)
    prompt = prompt_create(team=dataset.team, name="p", created_by=editor)
    data = {"dataset": dataset.pk, "prompt": prompt.pk} | {name: shown[name].value() for name in Run.PARAMETERS}
    submitted = RunForm(editor, data)
    assert submitted.is_valid(), submitted.errors
    assert submitted.parameters() == defaults()


def test_the_api_takes_every_parameter_with_its_default(editor, dataset):
    prompt = prompt_create(team=dataset.team, name="p", created_by=editor)
    checked = serializer(editor, {"dataset": dataset.pk, "prompt": prompt.pk})
    assert checked.is_valid(), checked.errors
    assert {name: checked.validated_data[name] for name in Run.PARAMETERS} == defaults()


def test_the_command_has_an_option_for_every_parameter_with_its_default():
    assert command_parameters() == defaults()
    assert all(command_option(name).help for name in Run.PARAMETERS)  # --help explains each one


def test_the_default_providers_follow_the_setting(editor, settings):
    settings.LLM_DEFAULT_PROVIDER = "vertex"
    assert RunForm(editor)["primary_provider"].value() == "vertex"
    assert serializer(editor, {}).fields["optimizer_provider"].get_default() == "vertex"
    assert command_parameters()["primary_provider"] == "vertex"


@pytest.mark.parametrize("name", [name for name, field in FIELDS.items() if field.choices])
def test_every_door_offers_the_fields_choices(name, editor):
    choices = {value for value, _ in FIELDS[name].flatchoices}
    assert {value for value, _ in RunForm(editor).fields[name].choices} == choices
    assert set(serializer(editor, {}).fields[name].choices) == choices
    assert set(command_option(name).choices) == choices


@pytest.mark.parametrize(
    "name, limit, outward", BOUNDS, ids=[f"{name}-{'min' if out < 0 else 'max'}" for name, _, out in BOUNDS]
)
def test_every_door_takes_the_fields_bound_and_refuses_one_past_it(name, limit, outward, editor):
    for value, allowed in ((limit, True), (limit + outward, False)):
        assert (name not in RunForm(editor, {name: str(value)}).errors) is allowed, ("page", value)
        api = serializer(editor, {name: str(value)})
        api.is_valid()
        assert (name not in api.errors) is allowed, ("api", value)
        try:
            command_parameters(command_option(name).option_strings[0], str(value))
        except CommandError:
            assert not allowed, ("command", value)
        else:
            assert allowed, ("command", value)
