"""Inference steps answered by a Vertex AI batch prediction job instead of online calls (the run's `batch_from`).

services.py:
    ask_in_batch(run, asks)                              the loop's inference asks; raises WaitingForBatchJob
    check(job_id)                                        the scheduled task: reads a finished job back, or waits on
    stop_jobs_of(run)                                    a cancelled run's jobs: Vertex AI is asked to cancel them
    waiting_words(run)                                   what a waiting run waits for, in a sentence
    check_lost_jobs()                                    every minute: a check for each job whose checks were lost
    wait_in_foreground(run_id)                           manage.py optimize: checks the jobs itself while the run waits

The model is in `models.py`; the SDK calls are in `optimization/llm/providers/vertex_batch.py`.
"""


class WaitingForBatchJob(Exception):
    """The step asked a batch job for its answers: the run waits, no worker holds it, and the job's check queues
    the step again once the answers are in."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

