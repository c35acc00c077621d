"""Datasets over the REST API: list, upload (the same import as the pages and the command), detail, examples, delete."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from promptopt.api.conventions import ApiConventions, valid_input
from promptopt.api.errors import documented
from promptopt.api.parameters import choice_param
from promptopt.api.scoping import TeamField, get_scoped, in_team_param
from promptopt.errors import PromptOptError
from promptopt.teams.access import scoped

from .models import Dataset, Example, Split
from .readers import DatasetFileError
from .services import INT32, dataset_delete, dataset_import
from .uploads import refused_upload


class DatasetSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    examples = serializers.IntegerField(source="example_count", read_only=True,
                                        help_text="0 until the dataset is ready.")
    error = serializers.CharField(source="last_error", read_only=True, help_text="Why the import failed.")

    class Meta:
        model = Dataset
        fields = ["id", "team", "name", "description", "source_format", "source_filename", "input_field",
                  "answer_field", "split_seed", "metadata", "examples", "created_by", "created_at",
                  "status", "rows_done", "rows_total", "error"]


class SplitCountsSerializer(serializers.Serializer):
    train = serializers.IntegerField()
    validation = serializers.IntegerField()
    test = serializers.IntegerField()


class DatasetDetailSerializer(DatasetSerializer):
    split_counts = SplitCountsSerializer(read_only=True)

    class Meta(DatasetSerializer.Meta):
        fields = DatasetSerializer.Meta.fields + ["split_counts"]


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # the readers say "The file is empty." as at the other doors
        help_text="CSV, JSON Lines (.jsonl) or a BIG-bench task.json; the name's ending tells which unless `format` "
                  "says. At most DATASET_MAX_FILE_MB; above DATASET_WORKER_IMPORT_MB the worker imports it.",
    )
    name = serializers.CharField(max_length=200)
    team = TeamField()
    format = serializers.ChoiceField(choices=Dataset.Format.choices, required=False)
    input_field = serializers.CharField(max_length=100, required=False, help_text="Default: detected.")
    answer_field = serializers.CharField(max_length=100, required=False, help_text="Default: detected.")
    seed = serializers.IntegerField(min_value=0, max_value=INT32, default=0,
                                    help_text="Seeds the 60/20/20 split when the file names no splits.")
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)


class ExampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Example
        fields = ["id", "position", "input", "expected", "alternatives", "choices", "metadata", "split"]


def _datasets(request):
    return scoped(Dataset.objects, request.user).select_related("created_by").with_example_counts()


def _dataset(request, pk):
    return get_scoped(_datasets(request), request.user, what=f"dataset {pk}", pk=pk)


class DatasetListView(ApiConventions, APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Your teams' datasets",
        parameters=[OpenApiParameter("team", int, description="Only this team's.")],
        responses=documented({200: DatasetSerializer(many=True)}, 400, 404),
    )
    def get(self, request):
        datasets = _datasets(request)
        datasets = in_team_param(datasets, request)
        return self.paginated(datasets.order_by("-created_at", "-id"), DatasetSerializer)

    @extend_schema(
        summary="Upload a dataset",
        description="Imports the whole file or nothing; a file that cannot be read is a 400 `invalid_file` whose "
                    "message names the line and field at fault. Takes the editor role in the team. A file larger "
                    "than DATASET_WORKER_IMPORT_MB is imported by the worker: the answer is then a 202 with the "
                    "dataset `importing`; GET it until it is `ready` (or `failed`, with its `error`).",
        request={"multipart/form-data": DatasetUploadSerializer},
        responses=documented({201: DatasetDetailSerializer, 202: DatasetDetailSerializer}, 400, 403, 404),
    )
    def post(self, request):
        try:
            _ = request.data  # parse the body now: the upload handlers note a file too large as they skip it
        except RequestDataTooBig:  # Django's limit on the fields other than files, DATA_UPLOAD_MAX_MEMORY_SIZE
            raise exceptions.ValidationError(
                f"The fields besides the file are larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes; "
                "send the dataset as the `file` part."
            ) from None
        refused = refused_upload(request)
        if refused:
            raise DatasetFileError(refused)
        data = valid_input(DatasetUploadSerializer, request)
        upload = data["file"]
        dataset = dataset_import(
            team=data["team"], name=data["name"], file=upload, filename=upload.name, file_format=data.get("format"),
            input_field=data.get("input_field") or None, answer_field=data.get("answer_field") or None,
            seed=data["seed"], created_by=request.user, description=data["description"],
        )
        done = status.HTTP_201_CREATED if dataset.is_ready else status.HTTP_202_ACCEPTED
        return Response(DatasetDetailSerializer(_dataset(request, dataset.pk)).data, status=done)


class DatasetDetailView(ApiConventions, APIView):
    @extend_schema(summary="A dataset, with its examples counted by split",
                   responses=documented({200: DatasetDetailSerializer}, 404))
    def get(self, request, pk):
        return Response(DatasetDetailSerializer(_dataset(request, pk)).data)

    @extend_schema(
        summary="Delete a dataset",
        description="Takes the editor role. A dataset that runs used is kept (409): their results refer to it.",
        responses=documented({204: None}, 403, 404, 409),
    )
    def delete(self, request, pk):
        dataset_delete(dataset=_dataset(request, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExampleListView(ApiConventions, APIView):
    @extend_schema(
        summary="A dataset's examples, in file order",
        parameters=[
            OpenApiParameter("split", str, enum=Split.values, description="Only this split."),
            OpenApiParameter("q", str, description="Only examples whose input or answer contains this text."),
        ],
        description="A dataset that is still importing, or whose import failed, has none to list: a 400 `refused`.",
        responses=documented({200: ExampleSerializer(many=True)}, 400, 404),
    )
    def get(self, request, pk):
        dataset = _dataset(request, pk)
        if not dataset.is_ready:
            raise PromptOptError(dataset.why_not_ready())
        examples = dataset.examples.order_by("position")
        split = choice_param(request, "split", Split.values)
        if split:
            examples = examples.filter(split=split)
        q = request.query_params.get("q", "").strip()
        if q:
            examples = examples.filter(Q(input__icontains=q) | Q(expected__icontains=q))
        return self.paginated(examples, ExampleSerializer)
