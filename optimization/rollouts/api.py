"""The API's doors into canary rollouts: start, stop and promote a canary, read its comparison, and report
outcomes (what applications do, with a `serve` token)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from optimization.api.objects import prompt_in_teams, version_in_teams
from optimization.models import Prompt
from promptopt.api.conventions import ApiConventions, valid_input
from promptopt.api.errors import documented
from promptopt.api.parameters import int_param
from promptopt.api.scoping import get_scoped
from promptopt.teams.access import teams_of

from . import services
from .selectors import canary_of


class ComparisonSerializer(serializers.Serializer):
    delta = serializers.FloatField(help_text="Mean score of the canary's subjects minus production's.")
    ci_low = serializers.FloatField(help_text="95 % bootstrap interval of the difference.")
    ci_high = serializers.FloatField()
    p_value = serializers.FloatField(allow_null=True, help_text="Fisher's exact test (0/1 scores), else Mann-Whitney.")


class SideSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    subjects = serializers.IntegerField(help_text="Subjects with at least one outcome.")
    outcomes = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True, help_text="The mean of the subjects' mean scores.")


class CanarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    share = serializers.IntegerField(help_text="Percent of the subjects that get the canary.")
    version = serializers.IntegerField(source="version.number")
    baseline = serializers.IntegerField(source="baseline.number", help_text="Production when it started.")
    started_by = serializers.CharField(source="started_by.username", allow_null=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    production = SideSerializer(source="comparison.production")
    canary = SideSerializer(source="comparison.canary")
    comparison = ComparisonSerializer(source="comparison.comparison", allow_null=True)


def _canary_data(canary):
    canary.comparison = services.canary_comparison(canary)
    return CanarySerializer(canary).data


class CanaryStartSerializer(serializers.Serializer):
    share = serializers.IntegerField(min_value=1, max_value=services.MAX_SHARE,
                                     help_text="Percent of the subjects (users, sessions) that get this version.")
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class OutcomeSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=200, help_text="The user or session id the prompt was fetched for.")
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="The version it got.")
    score = serializers.FloatField(help_text="How it went, e.g. 1 good and 0 bad, or a rating.")


class CanaryView(ApiConventions, APIView):
    @extend_schema(summary="A prompt's canary (the running one, else the latest) with its comparison",
                   responses=documented({200: CanarySerializer}, 404))
    def get(self, request, pk):
        canary = canary_of(prompt_in_teams(request, pk))
        if canary is None:
            raise Http404(f"Prompt {pk} has never had a canary.")
        return Response(_canary_data(canary))


class CanaryStartView(ApiConventions, APIView):
    @extend_schema(
        summary="Serve an approved version beside production to a share of the subjects",
        description="The rules of a promotion: the approver role, and not the person who wrote the version or "
                    "launched the run that made it. Production endpoint requests with `?subject=` then get this "
                    "version for that share of subjects, each subject always the same version.",
        request=CanaryStartSerializer, responses=documented({201: CanarySerializer}, 403, 404),
    )
    def post(self, request, pk, number):
        data = valid_input(CanaryStartSerializer, request)
        canary = services.canary_start(version=version_in_teams(request, pk, number), by=request.user, **data)
        return Response(_canary_data(canary), status=status.HTTP_201_CREATED)


def _end_view(end, summary):
    class EndView(ApiConventions, APIView):
        @extend_schema(summary=summary, request=CommentSerializer,
                       responses=documented({200: CanarySerializer}, 403, 404))
        def post(self, request, pk):
            canary = canary_of(prompt_in_teams(request, pk))
            if canary is None:
                    raise Http404(f"Prompt {pk} has no canary.")
            data = valid_input(CommentSerializer, request)
            return Response(_canary_data(end(canary=canary, by=request.user, **data)))

    EndView.__name__ = EndView.__qualname__ = f"{end.__name__.title().replace('_', '')}View"
    return EndView


CanaryStopView = _end_view(services.canary_stop, "Stop the canary: everyone gets production again")
CanaryPromoteView = _end_view(services.canary_promote, "Promote the canary's version to production for everyone")


class OutcomeView(ApiConventions, APIView):
    serves_applications = True  # a `serve` token reports outcomes too (TokenScope)
    serve_methods = ("POST",)

    @extend_schema(
        summary="Report an outcome for a subject while a canary runs",
        description="By the prompt's name, as the production endpoint. `version` must be the one the subject got "
                    "(400 otherwise). A `serve` token may call this.",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, description="The prompt's name."),
                    OpenApiParameter("team", int, description="Which of your teams; needed if you are in several.")],
        request=OutcomeSerializer, responses=documented({201: None}, 404),
    )
    def post(self, request, name):
        data = valid_input(OutcomeSerializer, request)
        team_id = int_param(request, "team")
        teams = teams_of(request.user) if team_id is None else teams_of(request.user).filter(pk=team_id)
        prompts = Prompt.objects.filter(team__in=teams, name=name)
        if team_id is None and prompts.count() > 1:
            raise serializers.ValidationError({"team": ["Several of your teams have this prompt: say which."]})
        prompt = get_scoped(prompts, request.user, what=f"prompt named {name!r}")
        services.outcome_report(prompt=prompt, subject=data["subject"], version_number=data["version"],
                                score=data["score"])
        return Response(status=status.HTTP_201_CREATED)
