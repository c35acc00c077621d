"""Your teams and your API tokens over the REST API: a token is how a program signs in."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.conventions import ApiConventions, valid_input
from ..api.errors import documented
from .access import teams_of
from .models import ApiToken, Membership, Team


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
