"""django-q2 entry points of the datasets app: each takes ids, and calls one service."""

from .queue import enqueue_import
from .services import dataset_import_queued, imports_stalled, pending_uploads_expire


def import_dataset(dataset_id):
    """Queued by dataset_import for a file too large to read inside a web request."""
    dataset_import_queued(dataset_id=dataset_id)


def recover_stalled_imports():
    """Every five minutes (the schedule made in migration 0003): queue again the imports whose worker died. A task
    queued twice is harmless: the second finds the import held, or done."""
    ids = imports_stalled()
    for dataset_id in ids:
        enqueue_import(dataset_id)
    return ids


def expire_pending_uploads():
    """Every hour (the schedule made in migration 0002): delete upload previews nobody imported in time."""
    return pending_uploads_expire()
