"""Writes with rules about prompts and runs. Pages, the API, the admin and the CLI all call these."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst

from datasets.models import Split
from promptopt.errors import PromptOptError
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from . import metrics
from .batch_prediction.services import stop_jobs_of
from .models import INT32, Prompt, PromptVersion, Run, RunStatus
from .prompting import prompt_file
from .queue import enqueue_step
from .strategies import registry as strategies


@transaction.atomic
def prompt_create(*, team, name, system_prompt=None, output_instruction=None, created_by=None, description=""):
    """A new prompt and its first version, from the default starting prompt in prompts/ for a text not given
    (None or blank)."""
    require_role(created_by, team, Role.EDITOR)
    name = (name or "").strip()
    if not name:
        raise PromptOptError("A prompt needs a name.")
    if Prompt.objects.filter(team=team, name=name).exists():
        raise PromptOptError(f"Team {team} already has a prompt named {name!r}.")
    prompt = Prompt.objects.create(team=team, name=name, description=description, created_by=created_by)
    PromptVersion.objects.create(
        prompt=prompt,
        system_prompt=system_prompt if _given(system_prompt) else prompt_file("initial_system.txt").strip(),
        output_instruction=output_instruction if _given(output_instruction)
        else prompt_file("initial_output.txt").strip(),
        created_by=created_by,
        note="First version.",
    )
    return prompt


def _given(text):
    return text is not None and text.strip() != ""


@transaction.atomic
def version_create(*, parent, by, system_prompt=None, output_instruction=None, demonstrations=None, note=""):
    """A new version written by a person from `parent`: versions are immutable, so editing makes a new one.

    Texts left out (None) are the parent's. A version needs a system prompt, and one the same as its parent is
    refused: it would only add a number to review."""
    if parent is None:
        raise PromptOptError("A new version is written from an existing one, and this prompt has none.")
    require_role(by, parent.prompt.team, Role.EDITOR)
    texts = {
        "system_prompt": parent.system_prompt if system_prompt is None else system_prompt,
        "output_instruction": parent.output_instruction if output_instruction is None else output_instruction,
        "demonstrations": parent.demonstrations if demonstrations is None else [dict(d) for d in demonstrations],
    }
    if not _given(texts["system_prompt"]):
        raise PromptOptError("A version needs a system prompt: it tells the model its task.")
    if all(value == getattr(parent, field) for field, value in texts.items()):
        raise PromptOptError(f"Nothing changed from v{parent.number}; change the text first.")
    return PromptVersion.objects.create(prompt=parent.prompt, parent=parent, created_by=by, note=note, **texts)


def run_parameters(**params):
    """Every parameter of a run: those given, checked against their fields on Run, and the fields' defaults for
    the rest. The pages, the API and the CLI check the same fields first, to show an error beside its input."""
    unknown = params.keys() - set(Run.PARAMETERS)
    if unknown:
        raise TypeError(f"Not parameters of a run: {', '.join(sorted(unknown))}.")
    checked = {}
    for name in Run.PARAMETERS:
        field = Run._meta.get_field(name)
        value = params.get(name, field.get_default())
        try:
            checked[name] = field.clean(value, None)
        except ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_choice":
                choices = ", ".join(str(choice) for choice, _ in field.flatchoices)
                raise PromptOptError(f"Unknown {field.verbose_name} {value!r}; use one of {choices}.") from None
            raise PromptOptError(f"{capfirst(field.verbose_name)}: {' '.join(exc.messages)}") from None
    return checked


def run_estimate(*, dataset, **params):
    """The most LLM calls a run may make: its start on validation, every iteration, and the final test.

    Cache hits make the real number lower; the run's budget caps can stop it sooner. Screening (screen_factor)
    adds none: only the candidates kept answer the examples."""
    params = run_parameters(**params)
    counts = dataset.split_counts()
    validation = min(params["examples_per_split"], counts[Split.VALIDATION])
    test = min(params["examples_per_split"], counts[Split.TEST])
    optimizer_calls = strategies.strategy(params["strategy"]).OPTIMIZER_CALLS
    per_iteration = optimizer_calls + params["candidates_per_iteration"] * validation
    return validation + params["max_iterations"] * per_iteration + 2 * test


def _check_parameters(dataset, params):
    """The rules no single field can check: the dataset's splits, and the metric's options."""
    counts = dataset.split_counts()
    for split in (Split.TRAIN, Split.VALIDATION, Split.TEST):
        if counts[split] == 0:
            raise PromptOptError(f"Dataset {dataset} has no {split} examples; a run needs all three splits.")
    strategies.require_ready(params["strategy"])
    if params["metric"] == "choice_accuracy" and dataset.examples.filter(choices__isnull=True).exists():
        raise PromptOptError("choice_accuracy needs choices on every example; this dataset has examples without.")
    try:
        metrics.check_options(params["metric"], params["metric_options"])
    except ValueError as exc:
        raise PromptOptError(str(exc)) from None


@transaction.atomic
def run_create(*, dataset, start_version, created_by=None, enqueue=True, **params):
    """Check the parameters, estimate the calls, save the run and queue it once the transaction commits."""
    if dataset.team_id != start_version.prompt.team_id:
        raise PromptOptError("The dataset and the prompt belong to different teams.")
    require_role(created_by, dataset.team, Role.EDITOR)
    if not dataset.is_ready:  # its examples are not all there: a large file the worker is still importing
        raise PromptOptError(dataset.why_not_ready())
    params = run_parameters(**params)
    _check_parameters(dataset, params)
    estimated_calls = run_estimate(dataset=dataset, **params)
    if estimated_calls > INT32:
        raise PromptOptError(f"This run could make {estimated_calls:,} LLM calls, more than can be counted; "
                             "lower the iterations, the candidates or the examples per split.")
    run = Run.objects.create(
        team=dataset.team,
        dataset=dataset,
        start_version=start_version,
        created_by=created_by,
        estimated_calls=estimated_calls,
        **params,
    )
    if enqueue:
        transaction.on_commit(lambda: enqueue_step(run.pk))
    return run


def run_cancel(*, run, by=None):
    """Stop a run at once if no worker holds it, or at the worker's next check (within seconds) if one does."""
    require_role(by, run.team, Role.EDITOR)
    if not run.is_active:
        raise PromptOptError(f"Run {run.pk} has already {run.get_status_display().lower()}.")
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED, lease_until__isnull=True).update(
        status=RunStatus.CANCELLED, stop_reason="Cancelled before it started.", finished_at=timezone.now()
    )
    Run.objects.filter(pk=run.pk, status=RunStatus.WAITING).update(
        status=RunStatus.CANCELLED, stop_reason="Cancelled while waiting for a batch job.", finished_at=timezone.now()
    )
    transaction.on_commit(lambda: stop_jobs_of(run))  # Vertex AI is asked to cancel them
    run.refresh_from_db()
    return run
