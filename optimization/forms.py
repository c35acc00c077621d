"""Forms of the prompt and run pages. They check input; the services check the rules."""

import json

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from datasets.models import Dataset
from promptopt.errors import PromptOptError
from promptopt.teams.access import ScopedChoiceField, scoped, teams_of

from . import metrics
from .models import Prompt, Run
from .prompting import prompt_file
from .selectors import start_version_of

TEXTAREA = {"rows": 6, "spellcheck": "false"}


class PromptForm(forms.Form):
    team = ScopedChoiceField(queryset=None)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    system_prompt = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs=TEXTAREA),
        help_text="Empty: the default starting prompt shown.",
    )
    output_instruction = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs=TEXTAREA),
        help_text="Comes after the example's input; {input} marks where the input goes. Empty: the default shown.",
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_of(user)
        if self.fields["team"].queryset.count() == 1:
            self.fields["team"].initial = self.fields["team"].queryset.get()
        self.fields["system_prompt"].widget.attrs["placeholder"] = prompt_file("initial_system.txt").strip()
        self.fields["output_instruction"].widget.attrs["placeholder"] = prompt_file("initial_output.txt").strip()

    def texts(self):
        """The texts as typed; `prompt_create` takes an empty one for its default."""
        return {key: self.cleaned_data[key] for key in ("system_prompt", "output_instruction")}


class VersionForm(forms.Form):
    """A new version written from an existing one; versions are immutable, so this never edits."""

    system_prompt = forms.CharField(strip=False, widget=forms.Textarea(attrs={**TEXTAREA, "rows": 8}))
    output_instruction = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs=TEXTAREA),
        help_text="Comes after the example's input; {input} marks where the input goes.",
    )
    demonstrations = forms.CharField(
        required=False, widget=forms.Textarea(attrs=TEXTAREA),
        help_text='A JSON list of earlier turns shown to the model: [{"input": "...", "output": "..."}].',
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="What changed and why.")

    def __init__(self, *args, parent, **kwargs):
        kwargs.setdefault("initial", {
            "system_prompt": parent.system_prompt,
            "output_instruction": parent.output_instruction,
            "demonstrations": json.dumps(parent.demonstrations, indent=2, ensure_ascii=False)
            if parent.demonstrations else "",
        })
        super().__init__(*args, **kwargs)

    def clean_demonstrations(self):
        text = self.cleaned_data["demonstrations"].strip()
        if not text:
            return []
        try:
            demonstrations = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(demonstrations, list) or not all(
            isinstance(d, dict) and set(d) == {"input", "output"} and all(isinstance(v, str) for v in d.values())
            for d in demonstrations
        ):
            raise forms.ValidationError('Write a list of objects with a text "input" and a text "output" each.')
        return demonstrations


def _bounded_formfield(model_field, **kwargs):
    """The field's form field, with its bounds as min and max, so that the browser checks them as well.

    No hidden input of a callable default's value: only has_changed() reads it, and nothing here calls that."""
    kwargs.setdefault("show_hidden_initial", False)
    for validator in model_field.validators:
        if isinstance(validator, MinValueValidator):
            kwargs.setdefault("min_value", validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            kwargs.setdefault("max_value", validator.limit_value)
    return model_field.formfield(**kwargs)


class OptionsField(forms.JSONField):
    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:  # nested deeper than Python's JSON parser goes
            raise forms.ValidationError("Nested too deeply.") from None


class RunForm(forms.ModelForm):
    """What a run starts from, and its parameters as the fields of optimization.models.Run declare them."""

    dataset = ScopedChoiceField(queryset=None)
    prompt = ScopedChoiceField(queryset=None)
    version = forms.IntegerField(
        required=False, min_value=1, label="Start from version",
        help_text="Empty: the production version, else the latest one a person wrote.",
    )
    field_order = ["dataset", "prompt", "version"]
    # An empty box, or a form from before the box existed, means the field's default: no screening, races as the
    # default does, no batch prediction.
    OPTIONAL_PARAMETERS = ("screen_factor", "race_from", "batch_from")

    class Meta:
        model = Run
        fields = Run.PARAMETERS
        formfield_callback = _bounded_formfield
        labels = {
            "primary_provider": "Model provider", "primary_model": "Model", "max_llm_calls": "Budget: LLM calls",
            "max_tokens": "Budget: tokens", "max_cost": "Budget: cost (USD)",
        }
        widgets = {"metric_options": forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})}
        field_classes = {"metric_options": OptionsField}

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ready = scoped(Dataset.objects, user).filter(status=Dataset.Status.READY)  # none still importing
        self.fields["dataset"].queryset = ready.select_related("team")
        self.fields["prompt"].queryset = scoped(Prompt.objects, user).select_related("team")
        several_teams = teams_of(user).count() > 1
        for name in ("dataset", "prompt"):
            field = self.fields[name]
            field.label_from_instance = (lambda o: f"{o.team} · {o}") if several_teams else str
            if name not in self.initial and field.queryset.count() == 1:
                self.initial[name] = field.queryset.get().pk
        for name in self.OPTIONAL_PARAMETERS:
            self.fields[name].required = False

    def clean_metric_options(self):
        """An empty box is no options."""
        return {} if self.cleaned_data["metric_options"] is None else self.cleaned_data["metric_options"]

    def clean(self):
        data = super().clean()
        for name in self.OPTIONAL_PARAMETERS:
            if name in data and data[name] is None:
                data[name] = Run._meta.get_field(name).get_default()
        if "metric" in data and "metric_options" in data:  # beside its box, before the confirm page
            try:
                metrics.check_options(data["metric"], data["metric_options"])
            except ValueError as exc:
                self.add_error("metric_options", str(exc))
        dataset, prompt = data.get("dataset"), data.get("prompt")
        if dataset and prompt:
            if dataset.team_id != prompt.team_id:
                raise forms.ValidationError("The dataset and the prompt belong to different teams.")
            try:
                data["start_version"] = start_version_of(prompt, data.get("version"))
            except PromptOptError as exc:
                self.add_error("version", exc.message)
            else:
                if data["start_version"] is None:
                    self.add_error("prompt", f"Prompt {prompt} has no version to start from.")
        return data

    def parameters(self):
        """The run's parameters as run_estimate and run_create take them."""
        return {name: self.cleaned_data[name] for name in Run.PARAMETERS}
