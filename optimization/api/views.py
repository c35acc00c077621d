"""Prompts, versions, reviews, runs and the audit log over the REST API.

Each view finds its objects within the caller's teams (objects.py) and calls the same service as the pages:
`prompt_create`, `version_create`, `run_create`, `run_cancel`, and the review workflow in reviews.py, which alone
decides who may approve what. The production prompt, the applications' hot path, is production.py.
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.models import Split
from promptopt.api.conventions import ApiConventions, valid_input
from promptopt.api.errors import documented
from promptopt.api.parameters import bool_param, choice_param, int_param
from promptopt.api.scoping import in_team_param
from promptopt.teams.access import scoped

from .. import reviews, selectors
from ..models import AuditEntry, Prompt, Run, RunStatus, VersionStatus
from ..services import prompt_create, run_cancel, run_create, version_create
from .objects import prompt_in_teams, run_in_teams, version_in_teams
from .serializers import (
    AuditEntrySerializer,
    DiffSerializer,
    PromptCreateSerializer,
    PromptSerializer,
    RequestReviewSerializer,
    ResultSerializer,
    ReviewSerializer,
    RunCreatedSerializer,
    RunCreateSerializer,
    RunDetailSerializer,
    RunSerializer,
    VersionCreateSerializer,
    VersionSerializer,
)

TEAM = OpenApiParameter("team", int, description="Only this team's.")



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
        return Response(PromptSerializer(prompt_in_teams(request, prompt.pk)).data, status=status.HTTP_201_CREATED)


class PromptDetailView(ApiConventions, APIView):
    @extend_schema(summary="A prompt", responses=documented({200: PromptSerializer}, 404))
    def get(self, request, pk):
        return Response(PromptSerializer(prompt_in_teams(request, pk)).data)


class VersionListView(ApiConventions, APIView):
    @extend_schema(
        summary="A prompt's versions, newest first",
        parameters=[OpenApiParameter("status", str, enum=VersionStatus.values, description="Only this status.")],
        responses=documented({200: VersionSerializer(many=True)}, 400, 404),
    )
    def get(self, request, pk):
        prompt = prompt_in_teams(request, pk)
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
        prompt = prompt_in_teams(request, pk)
        data = valid_input(VersionCreateSerializer, request)
        number = data.pop("parent", None)
        parent = (selectors.start_version_of(prompt, number) if number is not None
                  else prompt.versions.order_by("-number").first())
        version = version_create(parent=parent, by=request.user, **data)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(ApiConventions, APIView):
    @extend_schema(summary="A version", responses=documented({200: VersionSerializer}, 404))
    def get(self, request, pk, number):
        return Response(VersionSerializer(version_in_teams(request, pk, number)).data)


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
        prompt = prompt_in_teams(request, pk)
        old, new = selectors.versions_to_compare(prompt, old_number=int_param(request, "a"),
                                                 new_number=int_param(request, "b"))
        if new is None:
            raise Http404(f"Prompt {prompt.name} has no versions.")
        old = old or new
        diff = selectors.version_diff(old, new)
        return Response(DiffSerializer({"prompt": prompt.pk, "a": old.number, "b": new.number, "diff": diff}).data)


# ---------------------------------------------------------------------------------------------------------
# Reviews: every transition is a row of reviews.TRANSITIONS and a function of reviews.py, which holds the rules
# (four eyes, roles, states)


def _review_view(name, summary, description, serializer=ReviewSerializer):
    transition = reviews.TRANSITION[name]

    class ReviewView(ApiConventions, APIView):
        @extend_schema(summary=summary, description=description, request=serializer,
                       responses=documented({200: VersionSerializer}, 400, 403, 404))
        def post(self, request, pk, number):
            version = version_in_teams(request, pk, number)
            transition.call(version=version, by=request.user, **valid_input(serializer, request))
            return Response(VersionSerializer(version_in_teams(request, pk, number)).data)

    ReviewView.__name__ = ReviewView.__qualname__ = f"{transition.call.__name__.title().replace('_', '')}View"
    return ReviewView


RequestReviewView = _review_view(
    "request", "Ask for a review",
    "From candidate, draft or rejected to in review. Takes the editor role. A version its run held back (its "
    "held_back says why) takes an override: the reason, kept in the audit log and shown to the approver.",
    RequestReviewSerializer)
ApproveView = _review_view(
    "approve", "Approve a version in review",
    "Takes the approver role, and another person than the one who wrote the version or launched the run that "
    "made it (403 otherwise).")
RejectView = _review_view(
    "reject", "Reject a version in review",
    "The comment is required: it is what the author reads. Same rules as approving.")
PromoteView = _review_view(
    "promote", "Put an approved version in production",
    "The version in production goes back to approved. Takes the approver role. The production endpoint serves "
    "the new version from the next request on.")
RollbackView = _review_view(
    "rollback", "Put an earlier production version back",
    "The version must have been in production before and be approved now. Same rules as promoting.")


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
        return Response(RunCreatedSerializer(run_in_teams(request, run.pk)).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(ApiConventions, APIView):
    @extend_schema(summary="A run: its state, parameters, summary, usage, iterations and scores",
                   responses=documented({200: RunDetailSerializer}, 404))
    def get(self, request, pk):
        run = run_in_teams(request, pk)
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
        run = run_cancel(run=run_in_teams(request, pk), by=request.user)
        stopped = run.status == RunStatus.CANCELLED
        return Response(RunSerializer(run_in_teams(request, pk)).data,
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
        run = run_in_teams(request, pk)
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
        prompt = prompt_in_teams(request, prompt_id) if prompt_id is not None else None
        entries = selectors.audit_log(entries, prompt=prompt, version_number=number)
        return self.paginated(entries.order_by("-created_at", "-id"), AuditEntrySerializer)
