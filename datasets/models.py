"""A dataset is a team's set of examples: an input, the expected answer, and the split it belongs to."""

from django.conf import settings
from django.db import models


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"


class Dataset(models.Model):
    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        BIGBENCH = "bigbench", "BIG-bench task.json"

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

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="dataset_name_unique_per_team")]

    def __str__(self):
        return self.name

    def split_counts(self):
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
