"""Prompts and their versions, optimization runs and what they measured, and the LLM call log and cache."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q

from .parameters import (  # noqa: F401 (the migrations name the validators and choices here)
    INT32,
    INT64,
    between,
    default_provider,
    metric_choices,
    provider_choices,
    strategy_choices,
    validate_metric_options,
    validate_number,
)
from .states import RunStatus, Step


class Prompt(models.Model):
    """A named prompt of a team. Its text lives in its versions."""

    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The last version number handed out; numbers are never reused, even after a version is deleted.
    last_number = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="prompt_name_unique_per_team")]

    def __str__(self):
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    CANDIDATE = "candidate", "Candidate"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class PromptVersion(models.Model):
    """One immutable text of a prompt. Only its status changes after it is saved."""

    # What a version is and who or what made it: fixed once saved (the review rules read the last three).
    CONTENT_FIELDS = ("prompt_id", "number", "system_prompt", "output_instruction", "demonstrations", "parent_id",
                      "created_by_id", "created_by_run_id", "launched_by_id")

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(editable=False)
    system_prompt = models.TextField()
    output_instruction = models.TextField(
        blank=True, help_text="Appended after the example's input; {input} marks where the input goes."
    )
    # [{"input": ..., "output": ...}, ...] shown to the model as earlier turns of the conversation.
    demonstrations = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    # Who made a version is what the four-eyes rule reads: a user or a run it names cannot be deleted (deactivate
    # the user instead), so the rule can never be lifted by deleting the record it reads.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_by_run = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.PROTECT, related_name="created_versions"
    )
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        help_text="Who launched the run that made this version: they may not approve it.",
    )
    note = models.TextField(blank=True, help_text="What changed and why.")
    # Set when a run's meta-model picked this candidate out of more proposals, to compare with its measured score.
    predicted_score = models.FloatField(null=True, blank=True, editable=False)
    # Why the run that made it did not offer it for review (empty: a person's version, or a run's candidate).
    # Asking for its review then takes a written override (reviews.review_request).
    held_back = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="version_number_unique_per_prompt"),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(status="production"), name="one_production_version_per_prompt"
            ),
        ]

    def __str__(self):
        return f"{self.prompt.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            saved = PromptVersion.objects.filter(pk=self.pk).values(*self.CONTENT_FIELDS).first()
            if saved and any(saved[field] != getattr(self, field) for field in self.CONTENT_FIELDS):
                raise ValidationError("A prompt version is immutable once saved; create a new version instead.")
            return super().save(*args, **kwargs)
        with transaction.atomic():
            # The UPDATE locks the prompt's row until commit, so concurrent saves get distinct numbers.
            Prompt.objects.filter(pk=self.prompt_id).update(last_number=F("last_number") + 1)
            self.number = Prompt.objects.values_list("last_number", flat=True).get(pk=self.prompt_id)
            super().save(*args, **kwargs)


class Run(models.Model):
    """One optimization of a prompt on a dataset. Its state lives here, so any worker can resume it."""

    ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)
    CLAIMABLE = (RunStatus.QUEUED, RunStatus.RUNNING)  # a waiting run is queued again by its batch job's check

    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="runs")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="runs")
    start_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="runs_started")
    best_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs_won"
    )
    # Who launched it (the loop copies it onto the versions it makes): deleting that user is refused.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)

    # Parameters, fixed at creation. These fields are their one declaration: the launch page, the API and
    # `manage.py optimize` are generated from them (default, bounds, choices, help), and run_create checks them.
    PARAMETERS = (
        "primary_provider", "primary_model", "optimizer_provider", "optimizer_model", "metric", "metric_options",
        "strategy", "target", "patience", "max_iterations", "candidates_per_iteration", "screen_factor",
        "race_from", "examples_per_split", "max_llm_calls", "max_tokens", "max_cost", "temperature", "seed",
        "use_cache", "batch_from",
    )
    primary_provider = models.CharField(
        max_length=20, choices=provider_choices, default=default_provider,
        help_text="The provider of the model that answers the examples. Default: the LLM_DEFAULT_PROVIDER setting.",
    )
    primary_model = models.CharField(max_length=100, blank=True, help_text="Empty: the provider's default.")
    optimizer_provider = models.CharField(
        max_length=20, choices=provider_choices, default=default_provider,
        help_text="The provider of the model that writes new prompts (strategies meta_prompt and critique). "
                  "Default: the LLM_DEFAULT_PROVIDER setting.",
    )
    optimizer_model = models.CharField(max_length=100, blank=True, help_text="Empty: the provider's default.")
    metric = models.CharField(
        max_length=30, choices=metric_choices, default="exact_match", help_text="How an answer is scored."
    )
    metric_options = models.JSONField(
        default=dict, blank=True, validators=[validate_metric_options],
        help_text='The metric\'s options as a JSON object, e.g. {"ignore_case": false}.',
    )
    strategy = models.CharField(
        max_length=30, choices=strategy_choices, default="operators", help_text="How new prompts are proposed."
    )
    target = models.FloatField(
        default=0.90, validators=between(0, 1), help_text="Stop once the best validation score reaches it."
    )
    patience = models.PositiveIntegerField(
        default=3, validators=between(1, 1000), help_text="Stop after this many iterations without improvement."
    )
    max_iterations = models.PositiveIntegerField(
        default=10, validators=between(1, 1000), help_text="Stop after this many iterations."
    )
    candidates_per_iteration = models.PositiveIntegerField(
        default=4, validators=between(1, 100), help_text="New prompts proposed and scored in each iteration."
    )
    screen_factor = models.PositiveIntegerField(
        default=1, validators=between(1, 10),
        help_text="Propose this many times the candidates and score only those the meta-model predicts best; "
                  "1: no screening.",
    )
    race_from = models.PositiveIntegerField(
        default=5, validators=between(0, 100_000),
        help_text="Score each candidate on this many validation examples first, then a quarter more, and so on, "
                  "dropping one that can no longer beat the best, is unlikely to (a predicted chance under 0.1), or "
                  "that a paired test puts behind the best or the round's leader; 0: every candidate answers every "
                  "example.",
    )
    examples_per_split = models.PositiveIntegerField(
        default=40, validators=between(1, 100_000), help_text="At most this many examples per split."
    )
    max_llm_calls = models.PositiveIntegerField(
        null=True, blank=True, validators=between(1, INT32),
        help_text="Stop before paying for more LLM calls than this; answers from the cache are free.",
    )
    max_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, validators=between(1, INT64), help_text="Stop once this many tokens are used."
    )
    max_cost = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Stop once this many US dollars are spent, as estimated from the providers' prices. "
                  "Empty: no cap.",
    )
    temperature = models.FloatField(
        default=0.0, validators=between(0, 2), help_text="Sampling temperature of the model answering the examples."
    )
    seed = models.IntegerField(
        default=0, validators=between(0, INT32),
        help_text="Picks the examples and the loop's random choices: the same seed repeats a run.",
    )
    use_cache = models.BooleanField(
        default=True, help_text="Reuse answers already paid for (same prompt, model and settings)."
    )
    batch_from = models.PositiveIntegerField(
        default=0, validators=between(0, 1_000_000),
        help_text="On Vertex AI: an inference step with at least this many answers to ask for (not in the cache) "
                  "asks them in one batch prediction job, at the batch price (half the online one for Gemini), and "
                  "the run waits for the job without holding a worker; 0: always online.",
    )
    estimated_calls = models.PositiveIntegerField(default=0)
    # Validation answers racing did not ask for: those of the candidates dropped early.
    calls_saved = models.PositiveIntegerField(default=0)

    # State.
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.PRIMARY_INFERENCE)
    iteration = models.PositiveIntegerField(default=1)
    best_score = models.FloatField(null=True, blank=True)
    iterations_without_improvement = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Which worker holds the run for its current step, and until when (renewed as the step makes progress).
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The held-out comparison of the start and best versions.
    test_start_score = models.FloatField(null=True, blank=True)
    test_best_score = models.FloatField(null=True, blank=True)
    test_delta = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    # The same comparison of the best version with the constant-answer baseline (best − baseline).
    baseline_delta = models.FloatField(null=True, blank=True)
    baseline_ci_low = models.FloatField(null=True, blank=True)
    baseline_ci_high = models.FloatField(null=True, blank=True)
    baseline_p_value = models.FloatField(null=True, blank=True)
    # What the evidence says about the best version, in words: whether it became a candidate, and why.
    verdict = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Run {self.pk} · {self.start_version} on {self.dataset}"

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    def best_or_start(self):
        """The version the run stands for: its best so far, or the start while nothing has beaten it."""
        return self.best_version or self.start_version


class Iteration(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="iterations")
    number = models.PositiveIntegerField()
    best_score_before = models.FloatField(null=True, blank=True)
    best_score_after = models.FloatField(null=True, blank=True)
    improved = models.BooleanField(default=False)
    candidates = models.ManyToManyField(PromptVersion, blank=True, related_name="proposed_in")
    optimizer_error = models.TextField(blank=True, help_text="An optimizer answer the loop could not use.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="iteration_number_unique_per_run")]

    def __str__(self):
        return f"{self.run} · iteration {self.number}"


class Evaluation(models.Model):
    """A version's score on one split within a run, with one Prediction row per example.

    The run's constant-answer baseline is an evaluation too, with no version and its answer in `baseline_answer`:
    its answers are scored, compared and shown the same way as a version's."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="evaluations")
    version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="evaluations"
    )
    baseline_answer = models.TextField(null=True, blank=True, help_text="The baseline's answer to every example.")
    split = models.CharField(max_length=10)
    iteration = models.ForeignKey(Iteration, null=True, blank=True, on_delete=models.SET_NULL)
    score = models.FloatField(null=True, blank=True, help_text="Empty until every example is scored.")
    # The answers' spread beside the right answers' (optimization.spread), filled when the answers are scored.
    spread = models.JSONField(null=True, blank=True, editable=False)
    constant_answer = models.BooleanField(
        default=False, help_text="Nearly every answer is the same while the right answers are not."
    )
    raced_out = models.BooleanField(
        default=False,
        help_text="Dropped by racing: scored only on the first examples, where it could no longer beat the best, "
                  "was unlikely to, or was behind.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "version", "split"], name="one_evaluation_per_version_split"),
            models.UniqueConstraint(
                fields=["run", "split"], condition=Q(version__isnull=True), name="one_baseline_per_run_split"
            ),
            models.CheckConstraint(
                condition=Q(version__isnull=True, baseline_answer__isnull=False)
                | Q(version__isnull=False, baseline_answer__isnull=True),
                name="evaluation_of_a_version_or_the_baseline",
            ),
        ]

    def __str__(self):
        return f"{self.label} on {self.split}: {self.score}"

    @property
    def is_baseline(self):
        return self.version_id is None

    @property
    def label(self):
        """What was evaluated, in a few words: "sports v3", or the baseline's answer."""
        return f"the baseline (always {self.baseline_answer!r})" if self.is_baseline else str(self.version)

    @property
    def top_answer_words(self):
        """The most frequent answer and its share, e.g. "plausible (95 %)"; "" before scoring."""
        if not self.spread or self.spread["top_answer"] is None:
            return ""
        return f"{self.spread['top_answer']} ({self.spread['top_share'] * 100:.0f} %)"


class Prediction(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="predictions")
    example = models.ForeignKey("datasets.Example", on_delete=models.CASCADE, related_name="predictions")
    output = models.TextField()
    score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["evaluation", "example__position"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "example"], name="one_prediction_per_example")
        ]


class LLMCall(models.Model):
    """One completion the loop asked for, paid or served from the cache: the accounting ledger."""

    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls")
    iteration = models.PositiveIntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=20, blank=True)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["run", "iteration"])]


class StepTiming(models.Model):
    """How long one step of a run took, from its claim to its record: what /metrics' step durations count."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_timings")
    step = models.CharField(max_length=20, choices=Step.choices)
    iteration = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=RunStatus.choices, help_text="The run's status after it.")
    seconds = models.FloatField()
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["finished_at"]


class CachedResponse(models.Model):
    """A completion kept for reuse, shared across runs and users."""

    key = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    text = models.TextField()
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    finish_reason = models.CharField(max_length=30, blank=True)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.provider}/{self.model} {self.key[:12]}"


class AuditEntry(models.Model):
    """One transition of a version in the review workflow. Append-only: entries are never changed or deleted."""

    # Nothing an entry names can be deleted while it exists: no cascade erases the log either.
    team = models.ForeignKey("promptopt.Team", on_delete=models.PROTECT, related_name="audit_entries")
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=12, choices=VersionStatus.choices)
    to_status = models.CharField(max_length=12, choices=VersionStatus.choices)
    comment = models.TextField(blank=True)
    # A review asked for although the run that made the version held it back: the person's reason.
    override = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.actor} {self.action} {self.version}: {self.from_status} → {self.to_status}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The audit log is append-only.")


from .batch_prediction.models import BatchJob  # noqa: E402, F401  (its own module; the app's model)
