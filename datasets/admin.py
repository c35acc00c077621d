from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path

from promptopt.admin import TeamScopedAdmin
from promptopt.errors import InUse, NotAllowed, PromptOptError
from promptopt.models import Role, Team
from promptopt.teams import may

from .models import Dataset, Example
from .services import dataset_delete, dataset_import
from .uploads import refused_upload


class DatasetUploadForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="CSV, JSON Lines (.jsonl) or a BIG-bench task.json.")
    input_field = forms.CharField(required=False, help_text="Detected when empty.")
    answer_field = forms.CharField(required=False, help_text="Detected when empty.")
    seed = forms.IntegerField(initial=0)


@admin.register(Dataset)
class DatasetAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "source_format", "example_count", "created_by", "created_at"]
    list_filter = ["source_format", "team"]
    search_fields = ["name", "description"]
    readonly_fields = ["source_format", "source_filename", "input_field", "answer_field", "split_seed",
                       "metadata", "created_by", "created_at", "split_counts"]

    def has_add_permission(self, request):
        return False  # datasets come in through the import service: see the "Import" button

    def has_delete_permission(self, request, obj=None):
        # Offered to editors of the dataset's team; Django's own page refuses datasets that runs used.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may(request.user, obj.team, Role.EDITOR))

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
        teams = Team.objects.all() if request.user.is_superuser else Team.objects.filter(
            memberships__user=request.user, memberships__role__in=["editor", "approver"])
        form = DatasetUploadForm(request.POST or None, request.FILES or None)
        form.fields["team"].queryset = teams
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
            except PromptOptError as exc:
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
    team_path = "dataset__team"
    list_display = ["dataset", "number", "short_input", "expected", "split"]
    list_filter = ["split", "dataset__team", "dataset"]
    search_fields = ["input", "expected"]
    readonly_fields = ["dataset", "number"]
    exclude = ["position"]  # shown as its number, from 1
    list_select_related = ["dataset"]

    def get_queryset(self, request):  # not the examples of an import still under way
        return super().get_queryset(request).filter(dataset__status=Dataset.Status.READY)

    @admin.display(description="#", ordering="position")
    def number(self, example):
        return example.number

    @admin.display(description="input")
    def short_input(self, example):
        return example.input[:80]
