"""The API's shapes: what goes in and what comes out of prompts, versions, reviews, runs and the audit log.
Nothing more: the views call the services, which hold the rules."""

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasets.models import Dataset
from promptopt.api.scoping import ScopedField, TeamField

from ..models import INT32, AuditEntry, Prompt, PromptVersion, Run, RunStatus


class DemonstrationSerializer(serializers.Serializer):
    input = serializers.CharField(allow_blank=True, trim_whitespace=False)
    output = serializers.CharField(allow_blank=True, trim_whitespace=False)


class PromptSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    versions = serializers.IntegerField(source="version_count", read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)
    production_version = serializers.IntegerField(read_only=True, allow_null=True,
                                                  help_text="The number of the version in production, if any.")

    class Meta:
        model = Prompt
        fields = ["id", "team", "name", "description", "versions", "latest_version", "production_version",
                  "created_by", "created_at"]


class PromptCreateSerializer(serializers.Serializer):
    team = TeamField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=10_000, required=False, default="", allow_blank=True)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                          help_text="Left out or blank: the starting prompt in prompts/.")
    output_instruction = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                               help_text="{input} marks where an example's input goes. Left out "
                                                         "or blank: the starting prompt's.")


class VersionSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent.number", read_only=True, allow_null=True,
                                      help_text="The number of the version it was written from.")
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    demonstrations = DemonstrationSerializer(many=True, read_only=True)

    class Meta:
        model = PromptVersion
        fields = ["id", "prompt", "number", "status", "system_prompt", "output_instruction", "demonstrations",
                  "parent", "created_by", "created_by_run", "note", "held_back", "created_at"]
        extra_kwargs = {"held_back": {"help_text": "Why the run that made it did not offer it for review (empty: "
                                                   "offered, or written by a person). Requesting its review then "
                                                   "takes an override."}}


class VersionCreateSerializer(serializers.Serializer):
    parent = serializers.IntegerField(min_value=1, max_value=INT32, required=False,
                                      help_text="The version this one is written from. Default: the latest.")
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                          help_text="Default: the parent's.")
    output_instruction = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                               help_text="Default: the parent's.")
    demonstrations = DemonstrationSerializer(many=True, required=False, help_text="Default: the parent's.")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000,
                                    help_text="Required to reject: it is what the author reads.")


class RequestReviewSerializer(ReviewSerializer):
    override = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=10_000,
        help_text="Required for a version its run held back (see the version's held_back), refused otherwise: "
                  "why it should be reviewed against the run's verdict. The audit log keeps it; the approver sees it.",
    )


class DiffSerializer(serializers.Serializer):
    prompt = serializers.IntegerField()
    a = serializers.IntegerField(help_text="The older version's number.")
    b = serializers.IntegerField(help_text="The newer version's number.")
    diff = serializers.CharField(allow_blank=True, help_text="A unified diff (as `diff -u`); empty if the same.")


class ProductionPromptSerializer(serializers.Serializer):
    """The shape of the production-prompt document (the endpoint sends it pre-rendered from the cache)."""

    prompt = serializers.CharField()
    prompt_id = serializers.IntegerField()
    team = serializers.IntegerField()
    version = serializers.IntegerField()
    version_id = serializers.IntegerField()
    system_prompt = serializers.CharField(allow_blank=True)
    output_instruction = serializers.CharField(allow_blank=True)
    demonstrations = DemonstrationSerializer(many=True)
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)


class RunParametersSerializer(serializers.ModelSerializer):
    """A run's parameters as it was made: read-only, so the schema promises no bounds that older runs may break."""

    class Meta:
        model = Run
        fields = read_only_fields = list(Run.PARAMETERS)


class RunSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    prompt = serializers.IntegerField(source="start_version.prompt_id", read_only=True)
    prompt_name = serializers.CharField(source="start_version.prompt.name", read_only=True)
    start_version = serializers.IntegerField(source="start_version.number", read_only=True)
    best_version = serializers.IntegerField(source="best_version.number", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    estimated_calls = serializers.IntegerField(read_only=True, help_text="The most LLM calls the run may make.")

    class Meta:
        model = Run
        fields = ["id", "team", "dataset", "dataset_name", "prompt", "prompt_name", "start_version", "best_version",
                  "status", "step", "iteration", "best_score", "estimated_calls", "cancel_requested", "stop_reason",
                  "last_error", "created_by", "created_at", "started_at", "finished_at"]


class RunCreatedSerializer(RunSerializer):
    parameters = RunParametersSerializer(source="*", read_only=True)

    class Meta(RunSerializer.Meta):
        fields = RunSerializer.Meta.fields + ["parameters"]


def _model_default(name):
    """A parameter's default as its field declares it, for the schema to show: a callable stays one (called for
    each request), and a field without a default gives its empty value (null for a budget)."""
    field = Run._meta.get_field(name)
    return field.default if field.has_default() else field.get_default()


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(serializers.JSONField):
    """A JSON field documented as an object: the model's validator refuses anything else."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except RecursionError:  # a form-encoded value nested deeper than Python parses
            raise serializers.ValidationError("Nested too deeply.") from None


class RunCreateSerializer(serializers.ModelSerializer):
    """The dataset and prompt to optimize, and the run's parameters, each with a default."""

    # The parameters' fields are the Run model's: default, bounds, choices and help are declared there.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping, models.JSONField: JSONObjectField,
    }

    dataset = ScopedField(queryset=Dataset.objects.all())
    prompt = ScopedField(queryset=Prompt.objects.all())
    version = serializers.IntegerField(min_value=1, max_value=INT32, required=False,
                                       help_text="The version to start from. Default: production, else the latest "
                                                 "a person wrote.")

    class Meta:
        model = Run
        fields = ["dataset", "prompt", "version", *Run.PARAMETERS]
        extra_kwargs = {name: {"default": _model_default(name)} for name in Run.PARAMETERS}


class BaselineSerializer(serializers.Serializer):
    answer = serializers.CharField(help_text="The constant answer, chosen on the train split.")
    validation = serializers.FloatField(allow_null=True)
    test = serializers.FloatField(allow_null=True)
    test_delta = serializers.FloatField(allow_null=True, help_text="The best version's test score − this one's.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)


class ConstantAnswerSerializer(serializers.Serializer):
    start = serializers.DictField(child=serializers.BooleanField(), help_text="By split.")
    best = serializers.DictField(child=serializers.BooleanField(), help_text="By split.")


class RunSummarySerializer(serializers.Serializer):
    """`run_summary`: what `manage.py optimize --json` prints."""

    run_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    stop_reason = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    start = serializers.DictField(child=serializers.FloatField(allow_null=True), help_text="Score by split.")
    best = serializers.DictField(child=serializers.FloatField(allow_null=True), help_text="Score by split.")
    test_delta = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    baseline = BaselineSerializer(allow_null=True, help_text="The constant-answer baseline; empty until the run "
                                                             "has finished.")
    constant_answer = ConstantAnswerSerializer(help_text="Whether nearly every answer is one label while the right "
                                                         "answers are not, by split.")
    verdict = serializers.CharField(allow_blank=True, help_text="The best version against the start and the "
                                                                "baseline, in words.")
    offered_for_review = serializers.BooleanField(help_text="Whether the best version became a candidate.")
    overfitting_gap = serializers.FloatField(allow_null=True, help_text="The best version's validation score "
                                                                        "(where it was chosen) minus its test score.")
    calls_saved = serializers.IntegerField(help_text="Validation answers racing did not ask for.")
    iterations = serializers.IntegerField()
    llm_calls = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cache_hits = serializers.IntegerField()
    best_version_id = serializers.IntegerField(allow_null=True)


class UsageSerializer(serializers.Serializer):
    llm_calls = serializers.IntegerField(help_text="Paid calls.")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6, help_text="USD.")
    cache_hits = serializers.IntegerField()


class CandidateSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    version_id = serializers.IntegerField()
    validation_score = serializers.FloatField(allow_null=True)
    predicted_score = serializers.FloatField(
        allow_null=True, help_text="What the meta-model predicted before scoring it; empty when it did not screen."
    )


class IterationSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    best_score_before = serializers.FloatField(allow_null=True)
    best_score_after = serializers.FloatField(allow_null=True)
    improved = serializers.BooleanField()
    optimizer_error = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    candidates = CandidateSerializer(many=True)


class EvaluationSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="Empty for the constant-answer baseline.")
    version_id = serializers.IntegerField(allow_null=True)
    baseline_answer = serializers.CharField(allow_null=True, help_text="The baseline's answer; empty for a version.")
    split = serializers.CharField()
    score = serializers.FloatField(allow_null=True, help_text="Empty until every example is scored.")
    constant_answer = serializers.BooleanField(help_text="Nearly every answer is one label while the right answers "
                                                         "are not.")
    raced_out = serializers.BooleanField(help_text="Dropped by racing: its score is on the examples it answered.")
    spread = serializers.JSONField(allow_null=True, help_text="The answers beside the right answers: rows of "
                                                              "[label, answered, right], the top answer and its "
                                                              "share, and a confusion matrix for choices.")
    examples = serializers.IntegerField()
    iteration = serializers.IntegerField(allow_null=True)


class RunDetailSerializer(RunCreatedSerializer):
    summary = RunSummarySerializer(source="detail.summary", read_only=True)
    usage = UsageSerializer(source="detail.usage", read_only=True)
    iterations = IterationSerializer(source="detail.iterations", many=True, read_only=True)
    evaluations = EvaluationSerializer(source="detail.evaluations", many=True, read_only=True)

    class Meta(RunCreatedSerializer.Meta):
        fields = RunCreatedSerializer.Meta.fields + ["summary", "usage", "iterations", "evaluations"]


class ResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    example = serializers.IntegerField(source="example_id")
    position = serializers.IntegerField(source="example.position")
    split = serializers.CharField(source="evaluation.split")
    input = serializers.CharField(source="example.input")
    expected = serializers.CharField(source="example.expected")
    output = serializers.CharField(allow_blank=True)
    score = serializers.FloatField(allow_null=True)


class AuditEntrySerializer(serializers.ModelSerializer):
    prompt = serializers.IntegerField(source="version.prompt_id", read_only=True)
    prompt_name = serializers.CharField(source="version.prompt.name", read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "team", "prompt", "prompt_name", "version", "version_id", "actor", "action", "from_status",
                  "to_status", "comment", "override", "created_at"]
