"""Forms of the prompt and run pages. They check input; the services check the rules."""

import json

from django import forms
from django.conf import settings

from datasets.models import Dataset
from promptopt.errors import PromptOptError
from promptopt.teams import ScopedChoiceField, scoped, teams_of

from . import metrics
from .models import Prompt, Run
from .prompting import prompt_file
from .services import PROVIDERS, start_version_of
from .strategies import STRATEGIES

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


def _choices(described):
    return [(name, f"{name} — {description}") for name, description in described.items()]


class RunForm(forms.Form):
    """A run's parameters; the defaults are the run's own (optimization.models.Run)."""

    dataset = ScopedChoiceField(queryset=None)
    prompt = ScopedChoiceField(queryset=None)
    version = forms.IntegerField(
        required=False, min_value=1, label="Start from version",
        help_text="Empty: the production version, else the latest one a person wrote.",
    )
    primary_provider = forms.ChoiceField(choices=[(p, p) for p in PROVIDERS], label="Model provider")
    primary_model = forms.CharField(
        max_length=100, required=False, label="Model", help_text="Empty: the provider's default."
    )
    optimizer_provider = forms.ChoiceField(choices=[(p, p) for p in PROVIDERS])
    optimizer_model = forms.CharField(max_length=100, required=False, help_text="Empty: the provider's default.")
    metric = forms.ChoiceField(choices=_choices(metrics.METRICS))
    strategy = forms.ChoiceField(choices=_choices(STRATEGIES))
    target = forms.FloatField(min_value=0, max_value=1, help_text="Stop once the best validation score reaches it.")
    patience = forms.IntegerField(min_value=1, help_text="Stop after this many iterations without improvement.")
    max_iterations = forms.IntegerField(min_value=1, max_value=1000)
    candidates_per_iteration = forms.IntegerField(min_value=1, max_value=100, label="Candidates per iteration")
    examples_per_split = forms.IntegerField(min_value=1, label="Examples per split")
    max_llm_calls = forms.IntegerField(min_value=1, required=False, label="Budget: LLM calls")
    max_tokens = forms.IntegerField(min_value=1, required=False, label="Budget: tokens")
    max_cost = forms.DecimalField(
        min_value=0, max_digits=12, decimal_places=4, required=False, label="Budget: cost (USD)"
    )
    temperature = forms.FloatField(min_value=0, max_value=2)
    seed = forms.IntegerField()
    use_cache = forms.BooleanField(
        required=False, help_text="Reuse answers already paid for (same prompt, model and settings)."
    )

    PARAMETERS = (
        "primary_provider", "primary_model", "optimizer_provider", "optimizer_model", "metric", "strategy", "target",
        "patience", "max_iterations", "candidates_per_iteration", "examples_per_split", "max_llm_calls",
        "max_tokens", "max_cost", "temperature", "seed", "use_cache",
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = scoped(Dataset.objects, user).select_related("team")
        self.fields["prompt"].queryset = scoped(Prompt.objects, user).select_related("team")
        several_teams = teams_of(user).count() > 1
        for name in ("dataset", "prompt"):
            field = self.fields[name]
            field.label_from_instance = (lambda o: f"{o.team} · {o}") if several_teams else str
            if name not in self.initial and field.queryset.count() == 1:
                self.initial[name] = field.queryset.get().pk
        for name in ("primary_provider", "optimizer_provider"):
            self.initial.setdefault(name, settings.LLM_DEFAULT_PROVIDER)
        for name in self.PARAMETERS:
            field = Run._meta.get_field(name)
            if field.has_default():
                self.initial.setdefault(name, field.get_default())

    def clean(self):
        data = super().clean()
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
        return {name: self.cleaned_data[name] for name in self.PARAMETERS}
