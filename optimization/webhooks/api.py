"""The API's doors into webhooks: a team's endpoints (register, change, turn off, delete, rotate the secret) and each
endpoint's delivery log, through the same services as the pages. Members read; approvers change, and only they
see a secret."""

from functools import cached_property

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from promptopt.api.conventions import ApiConventions, valid_input
from promptopt.api.errors import documented
from promptopt.api.scoping import TeamField, get_scoped, in_team_param
from promptopt.teams.access import scoped, teams_where
from promptopt.teams.models import Role

from . import services
from .models import Delivery, Endpoint, Event


class EndpointSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id")
    events = serializers.ListField(child=serializers.ChoiceField(Event.values))
    secret = serializers.SerializerMethodField(help_text="Signs each delivery; shown to the team's approvers only.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True)

    class Meta:
        model = Endpoint
        fields = ["id", "team", "url", "description", "events", "active", "secret", "previous_secret_until",
                  "created_by", "created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_secret(self, endpoint):
        return endpoint.secret if endpoint.team_id in self._approver_teams else None

    @cached_property
    def _approver_teams(self):
        """The caller's teams where they approve, read once for a whole list (the child serializer is shared)."""
        return set(teams_where(self.context["request"].user, Role.APPROVER).values_list("pk", flat=True))


class EndpointCreateSerializer(serializers.Serializer):
    team = TeamField()
    url = serializers.CharField(max_length=500, help_text="http(s)://…, a public address.")
    events = serializers.ListField(child=serializers.ChoiceField(Event.values), min_length=1)
    description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class EndpointChangeSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.ChoiceField(Event.values), min_length=1, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, help_text="Off: nothing more is sent.")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "event", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
                  "created_at", "delivered_at"]


def _endpoint(request, pk):
    return get_scoped(Endpoint.objects.select_related("team", "created_by"), request.user, what=f"webhook {pk}",
                      pk=pk)


def _endpoint_data(request, endpoint):
    return EndpointSerializer(endpoint, context={"request": request}).data


class EndpointListView(ApiConventions, APIView):
    @extend_schema(summary="Your teams' webhook endpoints",
                   responses=documented({200: EndpointSerializer(many=True)}, 400, 404))
    def get(self, request):
        endpoints = in_team_param(scoped(Endpoint.objects.select_related("team", "created_by"), request.user),
                                  request)
        return self.paginated(endpoints.order_by("team_id", "url", "pk"), EndpointSerializer)

    @extend_schema(
        summary="Register a webhook endpoint",
        description="Takes the approver role in the team. The URL must be http(s) at a public address; the answer "
                    "holds the secret that signs each delivery.",
        request=EndpointCreateSerializer, responses=documented({201: EndpointSerializer}, 403, 404),
    )
    def post(self, request):
        endpoint = services.endpoint_create(by=request.user, **valid_input(EndpointCreateSerializer, request))
        return Response(_endpoint_data(request, _endpoint(request, endpoint.pk)), status=status.HTTP_201_CREATED)


class EndpointDetailView(ApiConventions, APIView):
    @extend_schema(summary="A webhook endpoint", responses=documented({200: EndpointSerializer}, 404))
    def get(self, request, pk):
        return Response(_endpoint_data(request, _endpoint(request, pk)))

    @extend_schema(
        summary="Change a webhook endpoint's events or description, or turn it on or off",
        description="Takes the approver role. Turning it on checks its address again.",
        request=EndpointChangeSerializer, responses=documented({200: EndpointSerializer}, 403, 404),
    )
    def patch(self, request, pk):
        endpoint = _endpoint(request, pk)
        services.endpoint_update(endpoint=endpoint, by=request.user, **valid_input(EndpointChangeSerializer, request))
        return Response(_endpoint_data(request, _endpoint(request, pk)))

    @extend_schema(summary="Delete a webhook endpoint and its delivery log", description="Takes the approver role.",
                   responses=documented({204: None}, 403, 404))
    def delete(self, request, pk):
        services.endpoint_delete(endpoint=_endpoint(request, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(ApiConventions, APIView):
    @extend_schema(
        summary="Give a webhook endpoint a new secret",
        description="Takes the approver role. The old secret still signs each delivery, beside the new one, until "
                    "`previous_secret_until` (WEBHOOK_SECRET_OVERLAP_HOURS), so a receiver can switch without "
                    "rejecting a delivery.",
        request=None, responses=documented({200: EndpointSerializer}, 403, 404),
    )
    def post(self, request, pk):
        services.endpoint_rotate_secret(endpoint=_endpoint(request, pk), by=request.user)
        return Response(_endpoint_data(request, _endpoint(request, pk)))


class DeliveryListView(ApiConventions, APIView):
    @extend_schema(summary="A webhook endpoint's deliveries, newest first",
                   responses=documented({200: DeliverySerializer(many=True)}, 400, 404))
    def get(self, request, pk):
        return self.paginated(_endpoint(request, pk).deliveries.order_by("-created_at", "pk"), DeliverySerializer)


class DeliveryRetryView(ApiConventions, APIView):
    @extend_schema(
        summary="Send a failed delivery once more, now",
        description="Takes the approver role. The same body and id: a receiver that saw it ignores it.",
        request=None, responses=documented({202: DeliverySerializer}, 403, 404),
    )
    def post(self, request, pk, delivery):
        endpoint = _endpoint(request, pk)
        found = endpoint.deliveries.filter(pk=delivery).first()
        if found is None:
            raise Http404(f"No delivery {delivery} of webhook {pk}.")
        services.delivery_retry(delivery=found, by=request.user)
        found.refresh_from_db()
        return Response(DeliverySerializer(found).data, status=status.HTTP_202_ACCEPTED)

