from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path

from promptopt.errors import InUse, NotAllowed, PromptOptError
from promptopt.teams.access import teams_where
from promptopt.teams.admin import TeamScopedAdmin
from promptopt.teams.models import Role, Team

from .models import Dataset, Example
from .services import dataset_delete, dataset_import
from .uploads import refused_upload


class DatasetUploadForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=200)
    # Bounded like the columns they are stored in, so a long name or a huge seed is an error beside its input.
    file = forms.FileField(help_text="CSV, JSON Lines (.jsonl) or a BIG-bench task.json.")
    input_field = forms.CharField(max_length=100, required=False, help_text="Detected when empty.")
    answer_field = forms.CharField(max_length=100, required=False, help_text="Detected when empty.")
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)


@admin.register(Dataset)
class DatasetAdmin(TeamScopedAdmin):
    """Datasets come in through the import service (the "Import a dataset" button) and leave through
    dataset_delete; an editor of the team may rename one or change its description, never its team."""

    editable_fields = ("name", "description")
    list_display = ["name", "team", "source_format", "example_count", "created_by", "created_at"]
    list_filter = ["source_format", "team"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "split_counts"]

    def has_import_permission(self, request):
        return request.user.has_perm("datasets.add_dataset") and self.holds(request, None, Role.EDITOR)

    def has_add_permission(self, request):
        return False  # the import page instead

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def delete_model(self, request, obj):
        try:
            dataset_delete(dataset=obj, by=request.user)
        except (NotAllowed, InUse) as exc:  # InUse: a run started since Django's page checked
            raise PermissionDenied(exc.message) from exc

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for dataset in queryset.select_related("team"):
            self.delete_model(request, dataset)

    @admin.display(description="examples")
    def example_count(self, dataset):
        return dataset.examples.count() if dataset.is_ready else dataset.get_status_display()  # none half-imported

    def split_counts(self, dataset):
        return ", ".join(f"{split} {n}" for split, n in dataset.split_counts().items())

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="datasets_dataset_import"),
                *super().get_urls()]

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied("Importing a dataset takes the permission to add datasets and the editor role.")
        form = DatasetUploadForm(request.POST or None, request.FILES or None)
        form.fields["team"].queryset = teams_where(request.user, Role.EDITOR)
        refused = request.method == "POST" and refused_upload(request)
        if refused:  # skipped as it arrived: say why, not "this field is required"
            form.full_clean()
            form.errors["file"] = form.error_class([refused])
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                dataset = dataset_import(
                    team=data["team"], name=data["name"], file=data["file"], filename=data["file"].name,
                    input_field=data["input_field"] or None, answer_field=data["answer_field"] or None,
                    seed=data["seed"], created_by=request.user,
                )
            except PromptOptError as exc:  # DatasetFileError, or NotAllowed if the role went meanwhile
                form.add_error("file", f"{exc.message} Nothing was imported.")
            else:
                messages.success(request, f"Imported {dataset.rows_total} examples into {dataset.name}." if
                                 dataset.is_ready else f"{dataset.name} is being imported by the worker.")
                return redirect("admin:datasets_dataset_change", dataset.pk)
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import a dataset",
                   "opts": self.model._meta}
        return render(request, "admin/datasets/dataset/import.html", context)


@admin.register(Example)
class ExampleAdmin(TeamScopedAdmin):
    """Examples come in with their dataset's import. An editor may correct one until a run has scored the dataset;
    after that its examples are the evidence of the run's scores and stay as they are (import a corrected copy)."""

    team_path = "dataset__team"
    editable_fields = ("input", "expected", "alternatives", "choices", "metadata", "split")
    list_display = ["dataset", "number", "short_input", "expected", "split"]
    list_filter = ["split", "dataset__team", "dataset"]
    search_fields = ["input", "expected"]
    readonly_fields = ["number"]
    exclude = ["position"]  # shown as its number, from 1
    list_select_related = ["dataset"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or not self.kept_because(obj))

    def kept_because(self, example):
        runs = example.dataset.runs.count()
        return [f"{example}: {runs} run(s) scored its dataset."] if runs else []

    def get_queryset(self, request):  # not the examples of an import still under way
        return super().get_queryset(request).filter(dataset__status=Dataset.Status.READY)

    @admin.display(description="#", ordering="position")
    def number(self, example):
        return example.number

    @admin.display(description="input")
    def short_input(self, example):
        return example.input[:80]
