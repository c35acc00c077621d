"""A dataset is a team's set of examples: an input, the expected answer, and the split it belongs to."""

from django.conf import settings
from django.db import models


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"


class DatasetQuerySet(models.QuerySet):
    def with_example_counts(self):
        """Each dataset's number of examples, as `example_count`: 0 until its import is done (the examples a
        worker has saved so far are nobody's to see)."""
        return self.annotate(example_count=models.Count("examples", filter=models.Q(status=Dataset.Status.READY)))


class Dataset(models.Model):
    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        BIGBENCH = "bigbench", "BIG-bench task.json"

    class Status(models.TextChoices):
        IMPORTING = "importing", "Importing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_format = models.CharField(max_length=10, choices=Format.choices)
    source_filename = models.CharField(max_length=255, blank=True)
    input_field = models.CharField(max_length=100, blank=True)
    answer_field = models.CharField(max_length=100, blank=True)
    split_seed = models.IntegerField(null=True, blank=True, help_text="Empty when the file carried its own split.")
    # What the file says about itself beyond the examples (BIG-bench's task_prefix, keywords, ...).
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # A large file is imported by the worker: until it is done, the dataset is `importing` and its examples are
    # neither listed, nor exposed by the API, nor usable by a run. A failed import keeps the row and its error.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    rows_done = models.PositiveIntegerField(default=0, help_text="Rows the worker has read (or saved, once "
                                                                 "rows_total is known).")
    rows_total = models.PositiveIntegerField(null=True, blank=True, help_text="Examples in the file, once read.")
    last_error = models.TextField(blank=True, help_text="Why the import failed, for a person.")
    upload_path = models.CharField(max_length=255, blank=True, help_text="The file waiting for the worker, in "
                                                                         "the default storage.")
    # The worker importing it, and until when it holds the import without news (datasets.services).
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="dataset_name_unique_per_team")]

    def __str__(self):
        return self.name

    @property
    def is_ready(self):
        return self.status == self.Status.READY

    def why_not_ready(self):
        """Why its examples cannot be used yet (or ever), in a sentence; None when they can."""
        if self.status == self.Status.FAILED:
            return f"Dataset {self.name} failed to import: {self.last_error}"
        if self.status == self.Status.IMPORTING:
            done = f"{self.rows_done:,} of {self.rows_total:,} examples saved" if self.rows_total is not None else (
                f"{self.rows_done:,} rows checked")
            return f"Dataset {self.name} is still importing ({done}); its examples can be used once it is ready."
        return None

    def split_counts(self):
        if not self.is_ready:
            return {split.value: 0 for split in Split}
        counts = dict(self.examples.values_list("split").annotate(n=models.Count("id")).order_by())
        return {split.value: counts.get(split.value, 0) for split in Split}


class Example(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="examples")
    position = models.PositiveIntegerField(help_text="Order in the source file, from 0.")
    input = models.TextField()
    expected = models.TextField(help_text="The expected answer.")
    # Other answers that count as right (BIG-bench's list targets: ["three", "3"]).
    alternatives = models.JSONField(default=list, blank=True)
    choices = models.JSONField(null=True, blank=True, help_text="The answers a model picks from, if any.")
    metadata = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=10, choices=Split.choices, db_index=True)

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [models.UniqueConstraint(fields=["dataset", "position"], name="example_position_unique")]
        indexes = [models.Index(fields=["dataset", "split", "position"])]

    def __str__(self):
        return f"{self.dataset} #{self.number}"

    @property
    def number(self):
        """The example's number as people count, from 1 (as the pages show it)."""
        return self.position + 1

    @property
    def answers(self):
        return [self.expected, *self.alternatives]
