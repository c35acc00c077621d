"""A run's parameters are declared once, on the Run model's fields. The launch page, the API and `manage.py
optimize` each offer every one of them, with the field's default, choices and bounds: a door that forgets a
parameter, or keeps its own default or bound, fails here."""

from types import SimpleNamespace

import pytest
from django.core.management import CommandError, load_command_class
from django.core.validators import MaxValueValidator, MinValueValidator

from optimization.api.serializers import RunCreateSerializer
from optimization.forms import RunForm
from optimization.management.commands.optimize import FLAGS, parameters_of
from optimization.models import Run
from optimization.services import prompt_create, run_parameters

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
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    return next(action for action in command_parser()._actions if flag in action.option_strings)


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


@pytest.mark.parametrize("name", ["target", "temperature"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_every_door_refuses_a_number_that_is_not_finite(name, value, editor):
    assert name in RunForm(editor, {name: value}).errors
    api = serializer(editor, {name: value})
    api.is_valid()
    assert name in api.errors
    with pytest.raises(CommandError):
        command_parameters(command_option(name).option_strings[0], value)


def test_call_command_takes_the_options_by_their_names():
    options = vars(command_parser().parse_args(["--dataset", "d", "--prompt", "p"]))
    parameters = parameters_of(options | {"no_cache": True, "metric_option": ["ignore_case=false"]})
    assert parameters["use_cache"] is False
    assert parameters["metric_options"] == {"ignore_case": False}
    with pytest.raises(CommandError, match="NAME=VALUE"):
        parameters_of(options | {"metric_option": ["ignore_case"]})


DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser goes


def test_options_nested_too_deeply_are_refused_not_a_server_error(editor, dataset, settings, tmp_path):
    from tests.support.api import isolate, token_client

    isolate(settings, tmp_path)
    assert RunForm(editor, {"metric_options": DEEP}).errors["metric_options"] == ["Nested too deeply."]
    response = token_client(editor).post("/api/v1/runs/", data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "JSON parse error - nested too deeply."


def test_the_page_says_beside_the_box_which_option_the_metric_does_not_take(editor):
    form = RunForm(editor, {"metric": "exact_match", "metric_options": '{"nope": true}'})
    assert "nope" in " ".join(form.errors["metric_options"])


def test_a_cost_cap_is_above_zero_or_empty():
    from promptopt.errors import PromptOptError

    with pytest.raises(PromptOptError, match="Max cost"):
        run_parameters(max_cost=0)
    assert run_parameters(max_cost=None)["max_cost"] is None


def test_a_run_too_large_to_count_is_refused(editor, dataset, monkeypatch):
    from optimization import services
    from promptopt.errors import PromptOptError

    prompt = prompt_create(team=dataset.team, name="p", created_by=editor)
    monkeypatch.setattr(services, "run_estimate", lambda **kwargs: 2**31)
    with pytest.raises(PromptOptError, match="more than can be counted"):
        services.run_create(dataset=dataset, start_version=prompt.versions.get(), created_by=editor)
    assert not Run.objects.exists()
