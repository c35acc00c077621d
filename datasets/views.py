"""Datasets: the list, the upload (preview, then import) and the examples browser."""

import os
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from promptopt.errors import InUse, PromptOptError
from promptopt.pages import is_htmx, member_view, page_of, render_page
from promptopt.teams.access import may, require_role, scoped, scoped_or_404, teams_of
from promptopt.teams.models import Role

from .forms import UploadForm, preview
from .models import Dataset, Split
from .readers import DatasetFileError, detect_format
from .services import GONE, NAME_LENGTH, PENDING_DIR, dataset_delete, dataset_import
from .uploads import refused_upload

SESSION_KEY = "pending_uploads"  # token -> {"path", "filename"} of files previewed and not yet imported
PREVIEW_GONE = "The file from the preview is no longer here; choose it again."


@member_view
def dataset_list(request):
    datasets = (
        scoped(Dataset.objects, request.user)
        .select_related("team", "created_by")
        .with_example_counts()
        .order_by("-created_at")
    )
    can_upload = any(may(request.user, team, Role.EDITOR) for team in teams_of(request.user))
    return render(request, "datasets/list.html", {"page": page_of(request, datasets), "can_upload": can_upload})


@member_view
def dataset_upload(request):
    """First POST ("preview"): keep the file and show its first rows as read. Then "import" reads it all."""
    form = UploadForm(request.user, request.POST or None, request.FILES or None)
    context = {"form": form, "can_upload": any(may(request.user, t, Role.EDITOR) for t in teams_of(request.user)),
               "limits": _limits()}
    refused = request.method == "POST" and refused_upload(request)
    if refused:  # too large: Django skipped the file as it arrived, so the form would only say none was chosen
        form.is_valid()
        form.errors.pop("file", None)
        form.add_error("file", refused)
    if request.method != "POST" or not form.is_valid():
        return render(request, "datasets/upload.html", context)

    data = form.cleaned_data
    require_role(request.user, data["team"], Role.EDITOR)
    importing = "import" in request.POST
    try:
        if data["file"] is not None:
            detect_format(data["file"].name)  # an unknown kind of file is refused before it is kept
        token, path, filename = _keep(request, data["file"], data["upload"])
        name = data["name"].strip() or os.path.splitext(filename)[0][:NAME_LENGTH].strip()
        _carry(form, upload=token, name=name)
        context["filename"] = filename
        try:
            file = default_storage.open(path, "rb")
        except GONE:  # expired by the hourly task since _keep looked
            raise DatasetFileError(PREVIEW_GONE) from None
        with file:
            if importing:
                dataset = dataset_import(
                    team=data["team"], name=name, file=file, filename=filename, seed=data["seed"],
                    input_field=data["input_field"] or None, answer_field=data["answer_field"] or None,
                    created_by=request.user, kept_path=path,
                )
            else:
                context["preview"] = preview(
                    file, filename, input_field=data["input_field"], answer_field=data["answer_field"]
                )
    except PromptOptError as exc:
        form.add_error(None, exc.message)
        # After a failed import the kept file may be fine (a name already taken): offer to import it again.
        context["can_import"] = importing and "filename" in context
        return render(request, "datasets/upload.html", context)

    if not importing:
        return render(request, "datasets/upload.html", context | {"can_import": True})
    _forget(request, token)
    if dataset.is_ready:
        messages.success(request, f"Imported {dataset.rows_total} examples into {dataset.name}.")
    else:
        messages.info(request, f"{dataset.name} is being imported in the background; this page shows how far it is.")
    return redirect("datasets:detail", pk=dataset.pk)


def _limits():
    """The limits the upload page states, as a person reads numbers: 100 MB, 1,000,000 examples."""
    return {"max_file_mb": f"{settings.DATASET_MAX_FILE_MB:g}", "max_rows": f"{settings.DATASET_MAX_ROWS:,}",
            "max_cell_chars": f"{settings.DATASET_MAX_CELL_CHARS:,}",
            "worker_import_mb": f"{settings.DATASET_WORKER_IMPORT_MB:g}"}


def _carry(form, **values):
    """Put values into the bound form, so the next step's page posts them back."""
    data = form.data.copy()
    for key, value in values.items():
        data[key] = value
    form.data = data
    # The file kept from the preview stands in for the file field: the browser must not ask for it again.
    form.fields["file"].required = not data.get("upload")


def _keep(request, uploaded, token):
    """Store a newly chosen file for the next step, or find the one a previous step kept."""
    pending = request.session.get(SESSION_KEY, {})
    if uploaded is not None:
        if token:
            _forget(request, token)
            pending = request.session.get(SESSION_KEY, {})
        token = uuid.uuid4().hex
        filename = os.path.basename(uploaded.name)
        # The kept copy's name is short whatever the file's own: a file system refuses names past 255 bytes.
        stem, extension = os.path.splitext(get_valid_filename(filename))
        path = default_storage.save(f"{PENDING_DIR}/{token}-{stem[:60]}{extension[:20]}", uploaded)
        pending[token] = {"path": path, "filename": filename}
        request.session[SESSION_KEY] = pending
    kept = pending.get(token)
    if kept is None or not default_storage.exists(kept["path"]):
        raise DatasetFileError(PREVIEW_GONE)
    return token, kept["path"], kept["filename"]


def _forget(request, token):
    pending = request.session.get(SESSION_KEY, {})
    kept = pending.pop(token, None)
    if kept is not None:
        try:
            default_storage.delete(kept["path"])
        except GONE:  # moved for the worker's import, or expired
            pass
        request.session[SESSION_KEY] = pending


@member_view
def dataset_detail(request, pk):
    dataset = scoped_or_404(Dataset.objects.select_related("team", "created_by"), request.user, pk=pk)
    if not dataset.is_ready:  # no examples to show yet, or none at all: how the import goes instead
        return render(request, "datasets/detail.html", _status_context(request, dataset))
    examples = dataset.examples.all()
    q = request.GET.get("q", "").strip()
    split = request.GET.get("split", "")
    if q:
        examples = examples.filter(Q(input__icontains=q) | Q(expected__icontains=q))
    if split in Split.values:
        examples = examples.filter(split=split)
    else:
        split = ""
    context = {
        "dataset": dataset,
        "counts": dataset.split_counts(),
        "page": page_of(request, examples),
        "q": q,
        "split": split,
        "splits": Split.choices,
        "runs": dataset.runs.select_related("start_version__prompt")[:5],
        "can_launch": may(request.user, dataset.team, Role.EDITOR),
    }
    context["can_delete"] = context["can_launch"]
    return render_page(request, "datasets/detail.html", context, fragment="datasets/_examples.html")


def _status_context(request, dataset):
    return {"dataset": dataset, "can_delete": may(request.user, dataset.team, Role.EDITOR)}


@member_view
def dataset_import_status(request, pk):
    """The import's progress, which HTMX fetches every 2 s while the worker imports; once it is over, the whole
    page reloads (to show the examples, or the error)."""
    dataset = scoped_or_404(Dataset.objects.select_related("team"), request.user, pk=pk)
    if is_htmx(request) and dataset.status != Dataset.Status.IMPORTING:
        return HttpResponseClientRefresh()
    return render(request, "datasets/_import_status.html", _status_context(request, dataset))


@member_view
@require_POST
def dataset_delete_view(request, pk):
    dataset = scoped_or_404(Dataset.objects.select_related("team"), request.user, pk=pk)
    try:
        dataset_delete(dataset=dataset, by=request.user)
    except InUse as exc:
        messages.error(request, exc.message)
        return redirect("datasets:detail", pk=dataset.pk)
    messages.success(request, f"Deleted dataset {dataset.name}.")
    return redirect("datasets:list")
