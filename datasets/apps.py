from pathlib import Path

from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    # Set explicitly: once Hugging Face's package is merged in (see __init__), __path__ has two entries.
    path = str(Path(__file__).resolve().parent)
