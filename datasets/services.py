"""Writes with rules about datasets: the one way examples get into PromptOpt (the command, the admin, the pages
and the API import through `dataset_import`) and the one way a dataset leaves (`dataset_delete`)."""

import math
import os
import unicodedata
import uuid
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, ProtectedError, Q
from django.utils import timezone
from google.api_core.exceptions import NotFound as NotInBucket

from promptopt.errors import InUse
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from .models import Dataset, Example, Split
from .queue import enqueue_import
from .readers import READERS, DatasetFileError, Header, detect_format

BATCH_SIZE = 2000
DEFAULT_RATIOS = (0.6, 0.2, 0.2)
PENDING_DIR = "uploads/pending"  # files kept in the default storage between an upload's preview and its import
IMPORTS_DIR = "uploads/importing"  # files waiting for (or being read by) the worker's import
INT32 = 2**31 - 1  # the largest seed the database keeps
IMPORT_LEASE = timedelta(minutes=2)  # how long a worker holds an import without news; renewed every BATCH_SIZE rows
NAME_LENGTH = Dataset._meta.get_field("name").max_length
COLUMN_LENGTH = Dataset._meta.get_field("input_field").max_length
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
    if len(ratios) != 3 or not all(math.isfinite(r) and r >= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise DatasetFileError(f"Split ratios must be three non-negative numbers adding up to 1, got {ratios}.")


def _megabytes(setting):
    return int(getattr(settings, setting) * 1_000_000)


def _size(file):
    size = getattr(file, "size", None)
    if size is None:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
    return size


def _source_filename(filename):
    """The file's own name as the dataset keeps it: no folders, no control characters, at most 255 characters
    (its extension kept)."""
    name = "".join(char for char in os.path.basename(filename) if unicodedata.category(char)[0] != "C")
    stem, extension = os.path.splitext(name)
    extension = extension[:20]
    return stem[: 255 - len(extension)] + extension


def _check_request(team, name, seed, input_field, answer_field):
    name = (name or "").strip()
    if not name:
        raise DatasetFileError("A dataset needs a name.")
    if len(name) > NAME_LENGTH:
        raise DatasetFileError(f"A dataset's name has at most {NAME_LENGTH} characters; this one has {len(name)}.")
    taken = Dataset.objects.filter(team=team, name=name).first()
    if taken is not None:
        hint = " (its import failed: delete it, then upload again)" if taken.status == Dataset.Status.FAILED else ""
        raise DatasetFileError(f"Team {team} already has a dataset named {name!r}{hint}; choose another name.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= INT32:
        raise DatasetFileError(f"The seed must be a whole number from 0 to {INT32:,}, not {str(seed)[:40]!r}.")
    for what, column in (("input", input_field), ("answer", answer_field)):
        if column and len(column) > COLUMN_LENGTH:
            raise DatasetFileError(f"The {what} column's name has at most {COLUMN_LENGTH} characters.")
    return name


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
    in_worker=None,
    kept_path=None,
):
    """Import a CSV, JSONL or BIG-bench file as a new dataset, all or nothing.

    A file up to DATASET_WORKER_IMPORT_MB is imported here and now, in one transaction. A larger one (or any, with
    `in_worker=True`; never, with False) is copied to the default storage and imported by the worker: the dataset
    comes back `importing`, and `dataset_import_queued` makes it `ready` or `failed`. `kept_path`: where the default
    storage already holds `file` (the upload page's preview kept it): the worker's copy is then that file, moved.
    """
    require_role(created_by, team, Role.EDITOR)
    name = _check_request(team, name, seed, input_field, answer_field)
    _check_ratios(ratios)
    filename = _source_filename(filename)
    file_format = file_format or detect_format(filename)
    if file_format not in READERS:
        raise DatasetFileError(f"Unknown format {file_format!r}: use csv, jsonl or bigbench.")
    size = _size(file)
    if size > _megabytes("DATASET_MAX_FILE_MB"):
        raise DatasetFileError(file_too_large(filename))
    if in_worker is None:
        in_worker = size > _megabytes("DATASET_WORKER_IMPORT_MB")
    if in_worker and tuple(ratios) != DEFAULT_RATIOS:
        raise DatasetFileError("A file imported by the worker is split 60/20/20; import it in the foreground "
                               "(manage.py import_dataset) to choose other ratios.")
    dataset = Dataset(
        team=team, name=name, description=description, source_format=file_format, source_filename=filename,
        input_field=input_field or "", answer_field=answer_field or "", split_seed=seed, created_by=created_by,
    )
    if in_worker:
        return _queue(dataset, file, kept_path)
    requested = (dataset.input_field or None, dataset.answer_field or None)
    header, total, carries_split = _check_rows(dataset, file)  # before the transaction: SQLite locks at its start
    _describe(dataset, header, total, carries_split)
    with transaction.atomic():
        dataset.save()
        for batch in _batches(dataset, file, carries_split, ratios, requested):
            Example.objects.bulk_create(batch)
    return dataset


def file_too_large(filename):
    return (f"{filename[:80]} is larger than {settings.DATASET_MAX_FILE_MB:g} MB, the largest file a dataset can "
            "come from (DATASET_MAX_FILE_MB).")


def _queue(dataset, file, kept_path=None):
    """Keep the file for the worker and queue its import once the dataset row is committed."""
    file.seek(0)
    name = f"{IMPORTS_DIR}/{uuid.uuid4().hex}{os.path.splitext(dataset.source_filename)[1]}"
    dataset.status = Dataset.Status.IMPORTING
    with transaction.atomic():
        dataset.upload_path = _move(kept_path, name) if kept_path else default_storage.save(name, File(file))
        dataset.save()
        transaction.on_commit(lambda: enqueue_import(dataset.pk))
    return dataset


def _move(path, name):
    """Move the default storage's file at `path` to `name`, without reading it through this process where the
    storage can: a rename on local disk, a copy inside the bucket on Google Cloud Storage (a 100 MB file would
    otherwise go down to the web process and back up, inside the request)."""
    try:
        source = default_storage.path(path)
    except NotImplementedError:  # not on a local disk
        bucket = getattr(default_storage, "bucket", None)
        if bucket is None:
            with default_storage.open(path, "rb") as file:
                name = default_storage.save(name, file)
            default_storage.delete(path)
            return name
        blob = bucket.blob(path)
        bucket.copy_blob(blob, bucket, name)
        blob.delete()
        return name
    target = default_storage.path(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(source, target)
    return name


def _check_rows(dataset, file, on_progress=None):
    """The first read: check every row and count them, so that the seeded split has exact sizes and a bad row is
    found before anything is written. Returns the header, the number of rows and whether the file names every
    row's split."""
    header, rows = _rows(file, dataset.source_format, dataset.input_field or None, dataset.answer_field or None)
    total, with_split, first_without_split = 0, 0, None
    for row in rows:
        total += 1
        if total > settings.DATASET_MAX_ROWS:
            raise DatasetFileError(f"{_where(dataset, row)}: the file has more than {settings.DATASET_MAX_ROWS:,} "
                                   "examples, the limit (DATASET_MAX_ROWS).")
        if row.split:
            with_split += 1
        elif first_without_split is None:
            first_without_split = row.line
        if on_progress and total % BATCH_SIZE == 0:
            on_progress(total)
    if total == 0:
        raise DatasetFileError("The file has a header but no examples.")
    if 0 < with_split < total:
        raise DatasetFileError(
            f"Line {first_without_split}: no split, while other rows name theirs; give every row a split or none."
        )
    return header, total, with_split == total


def _where(dataset, row):
    return f"Example {row.line}" if dataset.source_format == Dataset.Format.BIGBENCH else f"Line {row.line}"


def _describe(dataset, header, total, carries_split):
    """What the first read found out: the columns used, what the file says about itself, the count."""
    dataset.input_field, dataset.answer_field = header.mapping.input_field, header.mapping.answer_field
    dataset.metadata = header.metadata
    described = header.metadata.get("description", "")
    dataset.description = dataset.description or (described if isinstance(described, str) else "")
    dataset.split_seed = None if carries_split else dataset.split_seed
    dataset.rows_total = dataset.rows_done = total
    dataset.status = Dataset.Status.READY


def _batches(dataset, file, carries_split, ratios, requested):
    """The second read: the examples, BATCH_SIZE at a time. `requested`: the columns asked for (None: detect),
    read the same way as the first read did, whatever the dataset says it found."""
    _, rows = _rows(file, dataset.source_format, *requested)
    if not carries_split:
        train, validation, _ = _split_sizes(dataset.rows_total, ratios)
        rank = np.random.default_rng(dataset.split_seed).permutation(dataset.rows_total)

        def split_of(position):
            r = rank[position]
            return Split.TRAIN if r < train else Split.VALIDATION if r < train + validation else Split.TEST

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
            yield batch
            batch.clear()  # the same list: the caller's name for it would keep a second batch alive
    if batch:
        yield batch


def dataset_import_queued(*, dataset_id):
    """The worker's part of an import (see dataset_import): read the kept file, check every row, then save the
    examples in batches, reporting progress on the dataset row as it goes. The examples only count once the
    dataset is `ready`; a broken file leaves it `failed`, with the error and no examples.

    The worker holds the import by a lease it renews at every batch. Running this again while another worker holds
    it, or once the dataset is done, failed or deleted, does nothing; after a worker died (its lease expired) it
    starts over."""
    dataset = _claim(dataset_id)
    if dataset is None:
        return None
    requested = (dataset.input_field or None, dataset.answer_field or None)
    path = dataset.upload_path
    try:
        with default_storage.open(dataset.upload_path, "rb") as file:
            Example.objects.filter(dataset=dataset).delete()  # what an earlier attempt saved
            _progress(dataset, rows_done=0, rows_total=None)
            header, total, carries_split = _check_rows(dataset, file, lambda n: _progress(dataset, rows_done=n))
            _progress(dataset, rows_done=0, rows_total=total)
            dataset.rows_total = total
            for batch in _batches(dataset, file, carries_split, DEFAULT_RATIOS, requested):
                with transaction.atomic():
                    _lock(dataset)
                    Example.objects.bulk_create(batch)
                    _progress(dataset, rows_done=F("rows_done") + len(batch))
            with transaction.atomic():
                _lock(dataset)
                _describe(dataset, header, total, carries_split)
                dataset.upload_path, dataset.lease_token, dataset.lease_until = "", "", None
                dataset.save()
    except _Lost:
        return None  # deleted meanwhile, or taken over by another worker after this one stalled
    except DatasetFileError as exc:
        _fail(dataset, f"{exc.message} Nothing was imported.")
        return dataset
    except GONE:
        _fail(dataset, "The uploaded file is no longer in storage; upload it again.")
        return dataset
    except Exception:
        _fail(dataset, "The import stopped on an unexpected error, which has been logged; upload the file again, "
                       "or ask the administrator.")
        raise
    _delete_upload(path)
    return dataset


class _Lost(Exception):
    """The import is no longer this worker's: the dataset was deleted, or another worker took it over."""


def _claim(dataset_id):
    """Take the import if the dataset is importing and no live worker holds it; the dataset, or None."""
    now, token = timezone.now(), uuid.uuid4().hex
    claimed = (
        Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.IMPORTING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + IMPORT_LEASE)
    )
    return Dataset.objects.get(pk=dataset_id) if claimed == 1 else None


def _held(dataset):
    return Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.IMPORTING, lease_token=dataset.lease_token)


def _progress(dataset, **fields):
    """Record how far the import is and renew the lease."""
    if _held(dataset).update(lease_until=timezone.now() + IMPORT_LEASE, **fields) != 1:
        raise _Lost()


def _lock(dataset):
    """Lock the dataset row for this transaction (dataset_delete waits for it), if the import is still ours."""
    if not _held(dataset).select_for_update().exists():
        raise _Lost()


def _fail(dataset, message):
    with transaction.atomic():
        if not _held(dataset).select_for_update().exists():
            return
        Example.objects.filter(dataset=dataset).delete()
        _held(dataset).update(status=Dataset.Status.FAILED, last_error=message, rows_done=0, upload_path="",
                              lease_token="", lease_until=None)
    _delete_upload(dataset.upload_path)


def imports_stalled(*, now=None):
    """The ids of imports whose worker died (its lease expired), or whose task was lost (never claimed in an
    hour): the schedule in migration 0003 queues them again."""
    now = now or timezone.now()
    return list(
        Dataset.objects.filter(status=Dataset.Status.IMPORTING)
        .filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True, created_at__lt=now - timedelta(hours=1)))
        .values_list("pk", flat=True)
    )


def _delete_upload(path):
    if path:
        try:
            default_storage.delete(path)
        except GONE:
            pass


@transaction.atomic
def dataset_delete(*, dataset, by):
    """Delete a dataset and its examples. One that runs used is kept: their results refer to its examples.
    One being imported may be deleted too: the worker stops at its next batch."""
    require_role(by, dataset.team, Role.EDITOR)
    # Wait for a batch the worker is saving, so that the delete sees all of its examples.
    upload_path = Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("upload_path", flat=True)
    upload_path = next(iter(upload_path), "")
    try:
        dataset.delete()
    except ProtectedError:
        raise InUse(f"Dataset {dataset.name} is used by {dataset.runs.count()} run(s); it is kept while their "
                    "results refer to it.") from None
    transaction.on_commit(lambda: _delete_upload(upload_path))


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
