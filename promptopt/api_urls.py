"""The REST API: /api/v1/..., its OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/.

Included at the root by promptopt/urls.py: `path("", include("promptopt.api_urls"))`. The promptopt app's own
resources, the caller's teams and API tokens, are served from here too (api_auth cannot hold views: DRF imports
it while rest_framework.views is loading).
"""

from django.http import Http404, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import api as datasets
from optimization.api import exchange, production
from optimization.api import views as optimization
from optimization.rollouts import api as rollouts

from .api_auth import ApiConventions, documented, valid_input
from .models import ApiToken, Membership, Team
from .teams import teams_of

# ---------------------------------------------------------------------------------------------------------
# Teams and tokens


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text="viewer, editor or approver.")

    class Meta:
        model = Team
        fields = ["id", "name", "role"]


class TokenSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True,
                                      help_text="Neither revoked nor expired: it works.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "scope", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at", "active"]


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown this once; only its hash is kept.")

    class Meta(TokenSerializer.Meta):
        fields = TokenSerializer.Meta.fields + ["key"]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What will use it, e.g. 'checkout service'.")
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices, default=ApiToken._meta.get_field("scope").default,
        help_text="serve (the default: only GET /api/v1/prompts/NAME/production/, what an application needs), "
                  "read (every GET) or write (everything your roles allow).",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, validators=ApiToken._meta.get_field("expires_at").validators,
        help_text="When it stops working (ISO 8601, e.g. 2027-01-31T00:00:00Z); omitted or null: never.",
    )


class TeamListView(ApiConventions, APIView):
    @extend_schema(summary="Your teams and your role in each",
                   responses=documented({200: TeamSerializer(many=True)}, 404))
    def get(self, request):
        roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
        teams = list(teams_of(request.user).order_by("name"))
        for team in teams:
            team.role = "approver" if request.user.is_superuser else roles[team.pk]
        return self.paginated(teams, TeamSerializer)


class TokenListView(ApiConventions, APIView):
    @extend_schema(summary="Your API tokens", responses=documented({200: TokenSerializer(many=True)}, 404))
    def get(self, request):
        return self.paginated(ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id"),
                              TokenSerializer)

    @extend_schema(
        summary="Make an API token",
        description="The key is in this response only (sent with `Cache-Control: no-store`): store it now. A token "
                    "acts as you, in your teams with your roles, within its scope: `serve` (the default) only "
                    "fetches production prompts, `read` reads everything, `write` does what your roles allow. "
                    "An expired token is refused like a revoked one. Tokens are made from a signed-in session, not "
                    "with another token, so that a leaked token cannot make itself a successor before it is "
                    "revoked.",
        request=TokenCreateSerializer,
        responses=documented({201: NewTokenSerializer}, 400, 403),
    )
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied("A token cannot make tokens: sign in to make one.")
        data = valid_input(TokenCreateSerializer, request)
        token, key = ApiToken.issue(user=request.user, name=data["name"], scope=data["scope"],
                                    expires_at=data.get("expires_at"))
        token.key = key
        # Holds the key: no cache, proxy or browser history may keep it.
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store"})


class TokenDetailView(ApiConventions, APIView):
    @extend_schema(
        summary="Revoke an API token",
        description="It stops working at once and stays in the list, marked revoked. Revoking it again does nothing.",
        responses=documented({204: None}, 404),
    )
    def delete(self, request, pk):
        token = ApiToken.objects.filter(user=request.user, pk=pk).first()
        if token is None:
            raise Http404(f"No token {pk} of yours.")
        if token.is_active:
            token.revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------------------
# Routes

v1 = [
    # First: what applications call on their hot path. Only it ends in production/, so no other route is shadowed.
    path("prompts/<path:name>/production/", production.ProductionPromptView.as_view(), name="production-prompt"),
    path("teams/", TeamListView.as_view(), name="teams"),
    path("tokens/", TokenListView.as_view(), name="tokens"),
    path("tokens/<int:pk>/", TokenDetailView.as_view(), name="token"),
    path("datasets/", datasets.DatasetListView.as_view(), name="datasets"),
    path("datasets/<int:pk>/", datasets.DatasetDetailView.as_view(), name="dataset"),
    path("datasets/<int:pk>/examples/", datasets.ExampleListView.as_view(), name="dataset-examples"),
    path("prompts/", optimization.PromptListView.as_view(), name="prompts"),
    path("prompts/<int:pk>/", optimization.PromptDetailView.as_view(), name="prompt"),
    path("prompts/<int:pk>/diff/", optimization.VersionDiffView.as_view(), name="prompt-diff"),
    path("prompts/<int:pk>/versions/", optimization.VersionListView.as_view(), name="versions"),
    path("prompts/<int:pk>/versions/<int:number>/", optimization.VersionDetailView.as_view(), name="version"),
    path("prompts/<int:pk>/versions/<int:number>/request-review/", optimization.RequestReviewView.as_view(),
         name="version-request-review"),
    path("prompts/<int:pk>/versions/<int:number>/approve/", optimization.ApproveView.as_view(), name="version-approve"),
    path("prompts/<int:pk>/versions/<int:number>/reject/", optimization.RejectView.as_view(), name="version-reject"),
    path("prompts/<int:pk>/versions/<int:number>/promote/", optimization.PromoteView.as_view(), name="version-promote"),
    path("prompts/<int:pk>/versions/<int:number>/rollback/", optimization.RollbackView.as_view(),
         name="version-rollback"),
    path("runs/", optimization.RunListView.as_view(), name="runs"),
    path("runs/<int:pk>/", optimization.RunDetailView.as_view(), name="run"),
    path("runs/<int:pk>/cancel/", optimization.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/versions/<int:number>/results/", optimization.RunResultsView.as_view(), name="run-results"),
    path("audit/", optimization.AuditLogView.as_view(), name="audit"),
    # Applications and moving prompts between instances (issue 14)
    path("prompts/<int:pk>/export/", exchange.PromptExportView.as_view(), name="prompt-export"),
    path("prompts/import/", exchange.PromptImportView.as_view(), name="prompt-import"),
    path("prompts/<int:pk>/canary/", rollouts.CanaryView.as_view(), name="canary"),
    path("prompts/<int:pk>/canary/stop/", rollouts.CanaryStopView.as_view(), name="canary-stop"),
    path("prompts/<int:pk>/canary/promote/", rollouts.CanaryPromoteView.as_view(), name="canary-promote"),
    path("prompts/<int:pk>/versions/<int:number>/canary/", rollouts.CanaryStartView.as_view(), name="canary-start"),
    path("prompts/<path:name>/outcomes/", rollouts.OutcomeView.as_view(), name="outcomes"),
]


@csrf_exempt  # any method may end here, and a CSRF refusal would be the site's HTML page
def no_such_endpoint(request):
    """Any other /api/ URL: a JSON 404 in the API's error shape, not the site's HTML page."""
    hint = "" if request.path.endswith("/") else " API URLs end with a slash."
    return JsonResponse(
        {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}.{hint}"}}, status=404
    )


urlpatterns = [
    path("api/v1/", include((v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", no_such_endpoint),  # a prefix: whatever follows, newlines included
]
