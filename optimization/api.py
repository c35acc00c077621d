"""Prompts, versions, reviews, runs, the audit log and the production prompt over the REST API.

Each view finds its objects within the caller's teams and calls the same service as the pages: `prompt_create`,
`version_create`, `run_create`, `run_cancel`, and the review workflow in reviews.py, which alone decides who may
approve what.
"""

import logging

from django.db import models
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.models import Dataset, Split
from promptopt.api_auth import (
    ApiConventions,
    ScopedField,
    TeamField,
    TokenAuthentication,
    TokenRateThrottle,
    TokenScope,
    bool_param,
    choice_param,
    documented,
    get_scoped,
    in_team_param,
    int_param,
    valid_input,
)
from promptopt.models import ApiToken
from promptopt.teams import scoped

from . import reviews, selectors
from .models import INT32, AuditEntry, Prompt, PromptVersion, Run, RunStatus, VersionStatus
from .monitoring import count_production_request
from .services import prompt_create, run_cancel, run_create, version_create

logger = logging.getLogger("promptopt.api")

# ---------------------------------------------------------------------------------------------------------
# Serializers: the shapes that go in and out, nothing more


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


# ---------------------------------------------------------------------------------------------------------
# Finding objects within the caller's teams


def _prompt(request, pk):
    prompts = selectors.prompts_with_counts(Prompt.objects.all())
    return get_scoped(prompts, request.user, what=f"prompt {pk}", pk=pk)


def _version(request, pk, number):
    versions = PromptVersion.objects.select_related("prompt__team", "parent", "created_by")
    return get_scoped(versions, request.user, what=f"version {number} of prompt {pk}", team_path="prompt__team",
                      prompt_id=pk, number=number)


def _run(request, pk):
    runs = Run.objects.select_related("dataset", "start_version__prompt", "best_version", "created_by")
    return get_scoped(runs, request.user, what=f"run {pk}", pk=pk)


TEAM = OpenApiParameter("team", int, description="Only this team's.")


# ---------------------------------------------------------------------------------------------------------
# Prompts and versions


class PromptListView(ApiConventions, APIView):
    @extend_schema(summary="Your teams' prompts", parameters=[TEAM],
                   responses=documented({200: PromptSerializer(many=True)}, 400, 404))
    def get(self, request):
        prompts = selectors.prompts_with_counts(scoped(Prompt.objects, request.user))
        prompts = in_team_param(prompts, request)
        return self.paginated(prompts.order_by("name", "team_id"), PromptSerializer)

    @extend_schema(
        summary="Create a prompt and its first version",
        description="Takes the editor role in the team. Texts left out come from the default starting prompt.",
        request=PromptCreateSerializer,
        responses=documented({201: PromptSerializer}, 400, 403, 404),
    )
    def post(self, request):
        data = valid_input(PromptCreateSerializer, request)
        prompt = prompt_create(created_by=request.user, **data)
        return Response(PromptSerializer(_prompt(request, prompt.pk)).data, status=status.HTTP_201_CREATED)


class PromptDetailView(ApiConventions, APIView):
    @extend_schema(summary="A prompt", responses=documented({200: PromptSerializer}, 404))
    def get(self, request, pk):
        return Response(PromptSerializer(_prompt(request, pk)).data)


class VersionListView(ApiConventions, APIView):
    @extend_schema(
        summary="A prompt's versions, newest first",
        parameters=[OpenApiParameter("status", str, enum=VersionStatus.values, description="Only this status.")],
        responses=documented({200: VersionSerializer(many=True)}, 400, 404),
    )
    def get(self, request, pk):
        prompt = _prompt(request, pk)
        versions = prompt.versions.select_related("parent", "created_by").order_by("-number")
        wanted = choice_param(request, "status", VersionStatus.values)
        if wanted:
            versions = versions.filter(status=wanted)
        return self.paginated(versions, VersionSerializer)

    @extend_schema(
        summary="Write a new version",
        description="Versions are immutable: this saves a new draft whose parent is the version it is written from. "
                    "Fields left out are the parent's; a version the same as its parent is refused (400), as in "
                    "the pages. Takes the editor role.",
        request=VersionCreateSerializer,
        responses=documented({201: VersionSerializer}, 400, 403, 404),
    )
    def post(self, request, pk):
        prompt = _prompt(request, pk)
        data = valid_input(VersionCreateSerializer, request)
        number = data.pop("parent", None)
        parent = selectors.start_version_of(prompt, number) if number is not None else prompt.versions.order_by("-number").first()
        version = version_create(parent=parent, by=request.user, **data)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(ApiConventions, APIView):
    @extend_schema(summary="A version", responses=documented({200: VersionSerializer}, 404))
    def get(self, request, pk, number):
        return Response(VersionSerializer(_version(request, pk, number)).data)


class VersionDiffView(ApiConventions, APIView):
    @extend_schema(
        summary="What changed between two versions, as a unified diff",
        parameters=[
            OpenApiParameter("a", int, description="The older version. Default: b's parent, else the one before b."),
            OpenApiParameter("b", int, description="The newer version. Default: the latest."),
        ],
        responses=documented({200: DiffSerializer}, 400, 404),
    )
    def get(self, request, pk):
        prompt = _prompt(request, pk)
        old, new = selectors.versions_to_compare(prompt, old_number=int_param(request, "a"),
                                                 new_number=int_param(request, "b"))
        if new is None:
            raise Http404(f"Prompt {prompt.name} has no versions.")
        old = old or new
        diff = selectors.version_diff(old, new)
        return Response(DiffSerializer({"prompt": prompt.pk, "a": old.number, "b": new.number, "diff": diff}).data)


# ---------------------------------------------------------------------------------------------------------
# Reviews: every transition is a function of reviews.py, which holds the rules (four eyes, roles, states)


def _review_view(transition, summary, description, serializer=ReviewSerializer):
    class ReviewView(ApiConventions, APIView):
        @extend_schema(summary=summary, description=description, request=serializer,
                       responses=documented({200: VersionSerializer}, 400, 403, 404))
        def post(self, request, pk, number):
            version = _version(request, pk, number)
            transition(version=version, by=request.user, **valid_input(serializer, request))
            return Response(VersionSerializer(_version(request, pk, number)).data)

    ReviewView.__name__ = ReviewView.__qualname__ = f"{transition.__name__.title().replace('_', '')}View"
    return ReviewView


RequestReviewView = _review_view(
    reviews.review_request, "Ask for a review",
    "From candidate, draft or rejected to in review. Takes the editor role. A version its run held back (its "
    "held_back says why) takes an override: the reason, kept in the audit log and shown to the approver.",
    RequestReviewSerializer)
ApproveView = _review_view(
    reviews.review_approve, "Approve a version in review",
    "Takes the approver role, and another person than the one who wrote the version or launched the run that "
    "made it (403 otherwise).")
RejectView = _review_view(
    reviews.review_reject, "Reject a version in review",
    "The comment is required: it is what the author reads. Same rules as approving.")
PromoteView = _review_view(
    reviews.version_promote, "Put an approved version in production",
    "The version in production goes back to approved. Takes the approver role. The production endpoint serves "
    "the new version from the next request on.")
RollbackView = _review_view(
    reviews.version_rollback, "Put an earlier production version back",
    "The version must have been in production before and be approved now. Same rules as promoting.")


# ---------------------------------------------------------------------------------------------------------
# The production prompt


CACHE_CONTROL = "private, max-age=0, must-revalidate"


SUBJECT_MAX = 200


def subject_param(request):
    subject = request.query_params.get("subject")
    if subject is not None and not 0 < len(subject) <= SUBJECT_MAX:
        raise exceptions.ValidationError({"subject": [f"A user or session id of 1 to {SUBJECT_MAX} characters."]})
    return subject


def _etag_matches(header, etag):
    if not header:
        return False
    if header.strip() == "*":
        return True
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    return etag in {tag.removeprefix("W/") for tag in parse_etags(header)}


class ProductionPromptView(ApiConventions, APIView):
    serves_applications = True  # what a token of scope `serve` may call (TokenScope)
    parser_classes = ()  # a GET: no body to parse
    renderer_classes = (JSONRenderer,)  # only JSON, so no `Vary: Accept` either
    renderer = JSONRenderer()

    def perform_content_negotiation(self, request, force=False):
        return self.renderer, self.renderer.media_type  # always JSON; negotiating was 6 % of the endpoint's time

    @extend_schema(
        summary="The production version of a prompt, by the prompt's name",
        description=(
            "What applications fetch. The team is the caller's one team; a caller in several teams names it with "
            "`?team=ID` (400 otherwise). 404 with a message when there is no such prompt or nothing is promoted.\n\n"
            "Send the `ETag` back in `If-None-Match` to get a 304 while the version in production is the same. "
            "`Cache-Control: private, max-age=0, must-revalidate`: a cache may keep the document but must ask "
            "again before using it, so a promotion or rollback shows from the next request on."
        ),
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, description="The prompt's name."),
            OpenApiParameter("team", int, description="Which of your teams; needed if you are in several."),
            OpenApiParameter("subject", str, description="A user or session id: while a canary runs, the version "
                                                         "this subject gets (always the same one)."),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="An ETag from before."),
        ],
        responses=documented(
            {200: ProductionPromptSerializer,
             304: OpenApiResponse(description="Not modified: the ETag sent is the production version's.")},
            400, 404,
        ),
    )
    def get(self, request, name):
        production = selectors.production_prompt(user=request.user, name=name, team_id=int_param(request, "team"),
                                                 subject=subject_param(request))
        return self.respond(request, production)

    def respond(self, request, production):
        # A new response: its Vary is set, not patched. META, not `request.headers`, which would copy all of it.
        headers = {"ETag": production.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
        if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), production.etag):
            return HttpResponseNotModified(headers=headers)
        return HttpResponse(production.body, content_type="application/json", headers=headers)

    def dispatch(self, request, *args, **kwargs):
        """Application traffic, a GET with a valid token for a prompt in production, is served by `served`: one
        query authenticates the token and finds the version, without DRF's request cycle, which cost as much as
        the rest of the request. Everything else (a session, a bad token, an error, throttling) takes DRF's way,
        which alone words the errors."""
        try:
            response = self.served(request, kwargs["name"])
        except Exception:  # a database or cache failure: DRF's way meets it again, logs it, answers it as JSON
            logger.warning("The production prompt's quick path failed; DRF's way answers", exc_info=True)
            response = None
        if response is None:
            response = super().dispatch(request, *args, **kwargs)
        count_production_request(response.status_code)
        return response

    def quick_path_applies(self):
        """Whether `served` answers as DRF would: the view's authentication, permission and throttle classes are
        the ones it reproduces. Another configuration (tokens turned off, another throttle) takes DRF's way."""
        return (
            list(self.authentication_classes[:1]) == [TokenAuthentication]  # a token before a session, as DRF tries
            and list(self.permission_classes) == [IsAuthenticated, TokenScope]
            and list(self.throttle_classes) == [TokenRateThrottle]
        )

    def served(self, request, name):
        """The response to a token's successful GET, or None for anything else (then DRF's way answers it)."""
        if request.method != "GET" or "\x00" in name or not self.quick_path_applies():
            return None
        team = subject = None
        if request.META.get("QUERY_STRING"):  # rare without a subject: parsing it costs as much as a header
            team, subject = request.GET.get("team"), request.GET.get("subject")
            if request.GET.keys() - {"team", "subject"} or (
                team is not None and not (team and team.isascii() and team.isdigit() and len(team) <= 18)
            ) or (subject is not None and not 0 < len(subject) <= SUBJECT_MAX):
                return None
        try:
            key = TokenAuthentication.key_of(request)
        except exceptions.AuthenticationFailed:
            return None
        if key is None:
            return None
        rows = selectors.production_rows_for_key(key_hash=ApiToken.hash(key), name=name,
                                                 team_id=None if team is None else int(team))
        if len(rows) != 1 or rows[0]["version_id"] is None:
            return None
        if TokenScope.refusal(rows[0]["token_scope"], request.method, self) is not None:
            return None  # DRF's way refuses it, in words
        token_id = rows[0]["token_id"]
        if not TokenRateThrottle().allow_token(token_id):
            return None  # DRF's way counts it once more and answers 429: only a token already over its rate
        TokenAuthentication.touch(token_id)
        self.args, self.kwargs, self.request = (), {"name": name}, request
        self.headers = self.default_response_headers
        return self.finalize_response(request, self.respond(request, selectors.production_document(rows[0], name,
                                                                                                  subject)))


# ---------------------------------------------------------------------------------------------------------
# Runs


class RunListView(ApiConventions, APIView):
    @extend_schema(
        summary="Your teams' runs, newest first",
        parameters=[
            TEAM,
            OpenApiParameter("status", str, enum=RunStatus.values),
            OpenApiParameter("prompt", int, description="Only runs of this prompt."),
            OpenApiParameter("dataset", int, description="Only runs on this dataset."),
        ],
        responses=documented({200: RunSerializer(many=True)}, 400, 404),
    )
    def get(self, request):
        runs = scoped(Run.objects, request.user).select_related(
            "dataset", "start_version__prompt", "best_version", "created_by")
        runs = in_team_param(runs, request)
        filters = {
            "status": choice_param(request, "status", RunStatus.values),
            "start_version__prompt_id": int_param(request, "prompt"),
            "dataset_id": int_param(request, "dataset"),
        }
        runs = runs.filter(**{key: value for key, value in filters.items() if value is not None})
        return self.paginated(runs.order_by("-created_at", "-id"), RunSerializer)

    @extend_schema(
        summary="Start an optimization run",
        description="Checks the parameters, saves the run with the most LLM calls it may make (`estimated_calls`) "
                    "and queues it for a worker: 202, then follow it at the run's URL. Takes the editor role.",
        request=RunCreateSerializer,
        responses=documented({202: RunCreatedSerializer}, 400, 403, 404),
    )
    def post(self, request):
        data = valid_input(RunCreateSerializer, request)
        prompt = data.pop("prompt")
        start_version = selectors.start_version_of(prompt, data.pop("version", None))
        run = run_create(dataset=data.pop("dataset"), start_version=start_version, created_by=request.user,
                         enqueue=True, **data)
        return Response(RunCreatedSerializer(_run(request, run.pk)).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(ApiConventions, APIView):
    @extend_schema(summary="A run: its state, parameters, summary, usage, iterations and scores",
                   responses=documented({200: RunDetailSerializer}, 404))
    def get(self, request, pk):
        run = _run(request, pk)
        run.detail = selectors.run_detail(run)
        return Response(RunDetailSerializer(run).data)


class RunCancelView(ApiConventions, APIView):
    @extend_schema(
        summary="Cancel a run",
        description="200 when it stopped at once (no worker held it); 202 when a worker holds it and stops it at "
                    "its next check, within seconds. Takes the editor role; a run that has ended is a 400.",
        request=None,
        responses=documented({200: RunSerializer, 202: RunSerializer}, 400, 403, 404),
    )
    def post(self, request, pk):
        run = run_cancel(run=_run(request, pk), by=request.user)
        stopped = run.status == RunStatus.CANCELLED
        return Response(RunSerializer(_run(request, pk)).data,
                        status=status.HTTP_200_OK if stopped else status.HTTP_202_ACCEPTED)


class RunResultsView(ApiConventions, APIView):
    @extend_schema(
        summary="Per-example results of a version in a run",
        parameters=[
            OpenApiParameter("split", str, enum=[Split.VALIDATION, Split.TEST]),
            OpenApiParameter("failures_only", OpenApiTypes.BOOL, description="Only answers scored below 1."),
        ],
        responses=documented({200: ResultSerializer(many=True)}, 400, 404),
    )
    def get(self, request, pk, number):
        run = _run(request, pk)
        version = run.start_version.prompt.versions.filter(number=number).first()
        if version is None:
            raise Http404(f"Prompt {run.start_version.prompt.name} has no version {number}.")
        results = selectors.run_results(
            run, version, split=choice_param(request, "split", Split.values),
            failures_only=bool_param(request, "failures_only"),
        )
        return self.paginated(results, ResultSerializer)


# ---------------------------------------------------------------------------------------------------------
# The audit log


class AuditLogView(ApiConventions, APIView):
    @extend_schema(
        summary="The review workflow's audit log, newest first",
        parameters=[
            TEAM,
            OpenApiParameter("prompt", int, description="Only this prompt's versions."),
            OpenApiParameter("version", int, description="Only this version number (with `prompt`)."),
        ],
        responses=documented({200: AuditEntrySerializer(many=True)}, 400, 404),
    )
    def get(self, request):
        entries = scoped(AuditEntry.objects, request.user)
        entries = in_team_param(entries, request)
        prompt_id, number = int_param(request, "prompt"), int_param(request, "version")
        if number is not None and prompt_id is None:
            raise serializers.ValidationError({"version": ["A version number needs `prompt`."]})
        prompt = _prompt(request, prompt_id) if prompt_id is not None else None
        entries = selectors.audit_log(entries, prompt=prompt, version_number=number)
        return self.paginated(entries.order_by("-created_at", "-id"), AuditEntrySerializer)
