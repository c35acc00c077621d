"""Datasets: the list, the upload (preview, then import) and the examples browser."""

import os
import uuid

from django.contrib import messages
from django.core.files.storage import default_storage
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils.text import get_valid_filename

from promptopt.errors import PromptOptError
from promptopt.models import Role
from promptopt.teams import may, require_role, scoped, scoped_or_404, teams_of
from promptopt.views import member_view, page_of, render_page

from .forms import UploadForm, preview
from .models import Dataset, Split
from .readers import DatasetFileError, detect_format
from .services import GONE, PENDING_DIR, dataset_import

SESSION_KEY = "pending_uploads"  # token -> {"path", "filename"} of files previewed and not yet imported
PREVIEW_GONE = "The file from the preview is no longer here; choose it again."


@member_view
def dataset_list(request):
    datasets = (
        scoped(Dataset.objects, request.user)
        .select_related("team", "created_by")
        .annotate(example_count=Count("examples"))
        .order_by("-created_at")
    )
    can_upload = any(may(request.user, team, Role.EDITOR) for team in teams_of(request.user))
    return render(request, "datasets/list.html", {"page": page_of(request, datasets), "can_upload": can_upload})


@member_view
def dataset_upload(request):
    """First POST ("preview"): keep the file and show its first rows as read. Then "import" reads it all."""
    form = UploadForm(request.user, request.POST or None, request.FILES or None)
    context = {"form": form, "can_upload": any(may(request.user, t, Role.EDITOR) for t in teams_of(request.user))}
    if request.method != "POST" or not form.is_valid():
        return render(request, "datasets/upload.html", context)

    data = form.cleaned_data
    require_role(request.user, data["team"], Role.EDITOR)
    importing = "import" in request.POST
    try:
        if data["file"] is not None:
            detect_format(data["file"].name)  # an unknown kind of file is refused before it is kept
        token, path, filename = _keep(request, data["file"], data["upload"])
        name = data["name"].strip() or os.path.splitext(filename)[0]
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
                    created_by=request.user,
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
    messages.success(request, f"Imported {dataset.examples.count()} examples into {dataset.name}.")
    return redirect("datasets:detail", pk=dataset.pk)


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
        path = default_storage.save(f"{PENDING_DIR}/{token}-{get_valid_filename(filename)}", uploaded)
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
        default_storage.delete(kept["path"])
        request.session[SESSION_KEY] = pending


@member_view
def dataset_detail(request, pk):
    dataset = scoped_or_404(Dataset.objects.select_related("team", "created_by"), request.user, pk=pk)
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
    return render_page(request, "datasets/detail.html", context, fragment="datasets/_examples.html")
