"""A Vertex AI batch prediction job asked for by an inference step of a run."""

from django.db import models

from ..states import Step


class BatchJob(models.Model):
    run = models.ForeignKey("optimization.Run", on_delete=models.CASCADE, related_name="batch_jobs")
    step = models.CharField(max_length=20, choices=Step.choices)
    iteration = models.PositiveIntegerField()
    model = models.CharField(max_length=100)
    # What it asks: {LLM cache key: [[evaluation id, example id] of every answer whose request it is]}: the answers
    # of every version the step asks (an evaluation is a version's answers on a split).
    requests = models.JSONField(default=dict)
    name = models.CharField(max_length=200, blank=True, help_text="Vertex AI's name for it, once submitted.")
    input_uri = models.CharField(max_length=500, blank=True)
    output_uri = models.CharField(max_length=500, blank=True, help_text="Where the job is to write its output.")
    output_dir = models.CharField(max_length=500, blank=True, help_text="Where it wrote it.")
    state = models.CharField(max_length=40, blank=True, help_text="Vertex AI's JOB_STATE_…, when last checked.")
    error = models.TextField(blank=True, help_text="Why it failed, or which of its requests it did not answer.")
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Its answers read back into the run, or the run failed or stopped because of it: nothing more to do.
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "optimization"
        ordering = ["run", "created_at"]

    def __str__(self):
        return f"{self.run} · batch job {self.name or '(not submitted)'}"

    @property
    def request_count(self):
        return sum(len(pairs) for pairs in self.requests.values())
