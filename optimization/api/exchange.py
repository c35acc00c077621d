"""The API's doors into optimization.exchange: a prompt's export document, and an import from one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from promptopt.api.conventions import ApiConventions, valid_input
from promptopt.api.errors import documented
from promptopt.api.scoping import TeamField, get_scoped

from ..exchange import export_filename, prompt_export, prompt_import
from ..models import Prompt
from .objects import prompt_in_teams
from .serializers import PromptSerializer


class PromptImportSerializer(serializers.Serializer):
    team = TeamField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                 help_text="Import under this name instead of the document's.")
    document = serializers.JSONField(help_text="What GET /api/v1/prompts/{id}/export/ returned (on any instance).")


class PromptExportView(ApiConventions, APIView):
    @extend_schema(
        summary="A prompt as one JSON document: every version, its scores and its review history",
        description="What POST /api/v1/prompts/import/ (or `manage.py import_prompt`, or the Import page) takes, "
                    "here or on another instance.",
        responses=documented({200: OpenApiTypes.OBJECT}, 404),
    )
    def get(self, request, pk):
        prompt = get_scoped(Prompt.objects.select_related("team"), request.user, what=f"prompt {pk}", pk=pk)
        return Response(prompt_export(prompt=prompt),
                        headers={"Content-Disposition": f'attachment; filename="{export_filename(prompt)}"'})


class PromptImportView(ApiConventions, APIView):
    @extend_schema(
        summary="Import an exported prompt into one of your teams",
        description="Every version arrives as a draft written by you and needs the usual review: an import never "
                    "ships anything. The status, scores and history each version had at the source are kept in its "
                    "note and in an `import` entry of the audit log. Takes the editor role; a name the team already "
                    "uses is refused (400): give `name`.",
        request=PromptImportSerializer,
        responses=documented({201: PromptSerializer}, 403, 404),
    )
    def post(self, request):
        data = valid_input(PromptImportSerializer, request)
        prompt = prompt_import(team=data["team"], document=data["document"], by=request.user, name=data.get("name"))
        return Response(PromptSerializer(prompt_in_teams(request, prompt.pk)).data, status=status.HTTP_201_CREATED)
