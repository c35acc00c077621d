"""Writes with rules about datasets: the one way examples get into PromptOpt (the command, the admin, the pages
and the API import through `dataset_import`) and the one way a dataset leaves (`dataset_delete`)."""

import os
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from google.api_core.exceptions import NotFound as NotInBucket

from promptopt.errors import InUse
from promptopt.models import Role
from promptopt.teams import require_role

from .models import Dataset, Example, Split
from .readers import READERS, DatasetFileError, Header, detect_format

BATCH_SIZE = 2000
DEFAULT_RATIOS = (0.6, 0.2, 0.2)
PENDING_DIR = "uploads/pending"  # files kept in the default storage between an upload's preview and its import
# How the default storage says a file is gone: local disk raises FileNotFoundError, django-storages' GCS NotFound.
GONE = (FileNotFoundError, NotInBucket)


def _rows(file, file_format, input_field, answer_field):
    file.seek(0)
    rows = READERS[file_format](file, input_field, answer_field)
    header = next(rows)
    assert isinstance(header, Header)
    return header, rows


def _split_sizes(total, ratios):
    train = round(total * ratios[0])
    validation = round(total * ratios[1])
    return train, validation, total - train - validation


def _check_ratios(ratios):
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise DatasetFileError(f"Split ratios must be three non-negative numbers adding up to 1, got {ratios}.")


@transaction.atomic
def dataset_import(
    *,
    team,
    name,
    file,
    filename,
    file_format=None,
    input_field=None,
    answer_field=None,
    seed=0,
    ratios=DEFAULT_RATIOS,
    created_by=None,
    description="",
):
    """Import a CSV, JSONL or BIG-bench file as a new dataset, all or nothing.

    The file is read twice: once to check every row and count them (so the seeded split has exact
    sizes and a bad row is found before anything is written), once to insert in batches.
    """
    require_role(created_by, team, Role.EDITOR)
    name = (name or "").strip()
    if not name:
        raise DatasetFileError("A dataset needs a name.")
    if Dataset.objects.filter(team=team, name=name).exists():
        raise DatasetFileError(f"Team {team} already has a dataset named {name!r}; choose another name.")
    _check_ratios(ratios)
    file_format = file_format or detect_format(filename)
    if file_format not in READERS:
        raise DatasetFileError(f"Unknown format {file_format!r}: use csv, jsonl or bigbench.")

    header, rows = _rows(file, file_format, input_field, answer_field)
    total, with_split, first_without_split = 0, 0, None
    for row in rows:
        total += 1
        if row.split:
            with_split += 1
        elif first_without_split is None:
            first_without_split = row.line
    if total == 0:
        raise DatasetFileError("The file has a header but no examples.")
    if 0 < with_split < total:
        raise DatasetFileError(
            f"Line {first_without_split}: no split, while other rows name theirs; give every row a split or none."
        )

    carries_split = with_split == total
    if not carries_split:
        train, validation, _ = _split_sizes(total, ratios)
        rank = np.random.default_rng(seed).permutation(total)

        def split_of(position):
            r = rank[position]
            return Split.TRAIN if r < train else Split.VALIDATION if r < train + validation else Split.TEST

    mapping = header.mapping
    dataset = Dataset.objects.create(
        team=team,
        name=name,
        description=description or header.metadata.get("description", ""),
        source_format=file_format,
        source_filename=os.path.basename(filename),
        input_field=mapping.input_field,
        answer_field=mapping.answer_field,
        split_seed=None if carries_split else seed,
        metadata=header.metadata,
        created_by=created_by,
    )
    _, rows = _rows(file, file_format, input_field, answer_field)
    batch = []
    for position, row in enumerate(rows):
        batch.append(
            Example(
                dataset=dataset,
                position=position,
                input=row.input,
                expected=row.expected,
                alternatives=row.alternatives,
                choices=row.choices,
                metadata=row.metadata,
                split=row.split if carries_split else split_of(position),
            )
        )
        if len(batch) == BATCH_SIZE:
            Example.objects.bulk_create(batch)
            batch.clear()
    Example.objects.bulk_create(batch)
    return dataset


def dataset_delete(*, dataset, by):
    """Delete a dataset and its examples. One that runs used is kept: their results refer to its examples."""
    require_role(by, dataset.team, Role.EDITOR)
    try:
        dataset.delete()
    except ProtectedError:
        raise InUse(f"Dataset {dataset.name} is used by {dataset.runs.count()} run(s); it is kept while their "
                    "results refer to it.") from None


def pending_uploads_expire(*, now=None):
    """Delete the files kept for upload previews that nobody imported within PENDING_UPLOAD_MAX_AGE_HOURS, and
    return their names. A younger one may still be confirmed: it is kept."""
    oldest_kept = (now or timezone.now()) - timedelta(hours=settings.PENDING_UPLOAD_MAX_AGE_HOURS)
    try:
        _, names = default_storage.listdir(PENDING_DIR)
    except FileNotFoundError:  # nothing was ever previewed here
        return []
    deleted = []
    for name in names:
        if not name:  # GCS lists the empty object that a "folder" made in the Cloud Console is: not a preview
            continue
        path = f"{PENDING_DIR}/{name}"
        try:
            abandoned = default_storage.get_modified_time(path) < oldest_kept
        except GONE:  # imported (and so deleted) since the listing
            continue
        if abandoned:
            default_storage.delete(path)
            deleted.append(path)
    return deleted
