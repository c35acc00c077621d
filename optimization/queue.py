"""What the optimization app asks the worker to do: a run's next step, queued by its dotted name (tasks.py runs
it). Apart from tasks.py, so that the services that queue a step need not import the loop the task runs."""

from django_q.tasks import async_task


def enqueue_step(run_id):
    async_task("optimization.tasks.run_step", run_id, task_name=f"run {run_id}", group="runs")
