"""django-q2 entry points of the datasets app: each calls one service."""

from .services import pending_uploads_expire


def expire_pending_uploads():
    """Every hour (the schedule made in migration 0002): delete upload previews nobody imported in time."""
    return pending_uploads_expire()
