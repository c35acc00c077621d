"""Refuse a file past DATASET_MAX_FILE_MB while it arrives, before it is written anywhere.

Django reads a multipart body before any view runs (the CSRF check reads the form), so the limit is an upload
handler listed first in FILE_UPLOAD_HANDLERS. It skips the file (Django reads the rest of it and throws it away)
and notes why on the request; the doors that take a dataset file (page, API, admin) show that note instead of
"no file was chosen"."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

NOTE = "refused_uploads"  # the request's attribute: field name -> why its file was refused


class SizeLimitedUploadHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data, start):
        limit = int(settings.DATASET_MAX_FILE_MB * 1_000_000)
        if start + len(raw_data) > limit:
            from .services import file_too_large

            notes = getattr(self.request, NOTE, {})
            notes[self.field_name] = file_too_large(self.file_name or "The file")
            setattr(self.request, NOTE, notes)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handlers keep the file


def refused_upload(request, field_name="file"):
    """Why the file sent as `field_name` was refused while it arrived, or None."""
    return getattr(request, NOTE, {}).get(field_name)
