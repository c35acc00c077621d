"""The upload form, and the preview it shows before anything is imported."""

import itertools
from dataclasses import dataclass

from django import forms

from promptopt.teams.access import ScopedChoiceField, teams_of

from .readers import READERS, DatasetFileError, Header, detect_format
from .services import INT32

PREVIEW_ROWS = 10


@dataclass
class Preview:
    file_format: str
    header: Header
    rows: list  # the first Rows of the file
    more: bool  # whether the file goes on after them

    @property
    def carries_split(self):
        return all(row.split for row in self.rows)

    @property
    def other_columns(self):
        """Columns kept as each example's metadata, in the order they first appear."""
        return list(dict.fromkeys(key for row in self.rows for key in row.metadata))


def preview(file, filename, *, input_field=None, answer_field=None, limit=PREVIEW_ROWS):
    """Read the file's mapping and first `limit` rows through the same readers the import uses.

    Only those rows are checked: a problem further down is found (and reported the same way) by the import."""
    file_format = detect_format(filename)
    file.seek(0)
    rows = READERS[file_format](file, input_field or None, answer_field or None)
    header = next(rows)
    first = list(itertools.islice(rows, limit + 1))
    if not first:
        raise DatasetFileError("The file has a header but no examples.")
    return Preview(file_format, header, first[:limit], len(first) > limit)


class UploadForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,  # the readers say "The file is empty." as they do everywhere
        help_text="CSV (.csv), JSON Lines (.jsonl) or a BIG-bench task.json.",
        error_messages={"required": "Choose a file to upload."},
    )
    # A file kept from the preview step, so the import does not need it chosen again.
    upload = forms.CharField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, required=False, help_text="Empty: the file's name.")
    team = ScopedChoiceField(queryset=None)
    input_field = forms.CharField(
        max_length=100, required=False, label="Input column",
        help_text="Empty: detected (input, question, prompt, text, …).",
    )
    answer_field = forms.CharField(
        max_length=100, required=False, label="Answer column",
        help_text="Empty: detected (answer, target, label, output, …).",
    )
    seed = forms.IntegerField(
        initial=0, required=False, min_value=0, max_value=INT32,
        help_text="Draws the 60/20/20 split when the file has no split column.",
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].required = not self.data.get("upload")  # a file kept from the preview will do
        self.fields["team"].queryset = teams_of(user)
        if self.fields["team"].queryset.count() == 1:
            self.fields["team"].initial = self.fields["team"].queryset.get()

    def clean_seed(self):
        return self.cleaned_data["seed"] if self.cleaned_data["seed"] is not None else 0
