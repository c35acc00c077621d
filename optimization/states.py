"""Where a run is: its status and its step. Apart from the models, so that a model of another module (a batch
job's step) can name them without importing the models that import it."""

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for a batch job"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Step(models.TextChoices):
    PRIMARY_INFERENCE = "primary_inference", "1. Primary inference"
    EVALUATION = "evaluation", "2. Evaluation"
    OPTIMIZER = "optimizer", "3. Optimizer"
    REFINED_INFERENCE = "refined_inference", "4. Refined inference"
    SECOND_EVALUATION = "second_evaluation", "5. Second evaluation"
    FINAL_TEST = "final_test", "Test-split comparison"
    DONE = "done", "Done"
