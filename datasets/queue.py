"""What the datasets app asks the worker to do: a task queued by its dotted name (datasets/tasks.py runs it)."""

from django_q.tasks import async_task


def enqueue_import(dataset_id):
    async_task("datasets.tasks.import_dataset", dataset_id, task_name=f"import dataset {dataset_id}",
               group="imports")
