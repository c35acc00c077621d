"""Several `manage.py worker` processes on one Redis queue over PostgreSQL: one is killed mid-step and every run
still finishes once, as it would have undisturbed, and nothing already paid for is paid again."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

from optimization.models import Evaluation, Iteration, LLMCall, Prediction, Run
from tests.loopback.student import StudentModel
from tests.test_loop import run_to_the_end, start_run
from tests.test_monitoring import TEST_REDIS, redis_is_up
from tests.test_worker import _database_url, result_of

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 2  # calls in flight per worker
# A killed worker's answers not yet written are sent again: those in flight and the group it was writing (the pool
# keeps sending while a group is written, optimization/llm/batch.py), at most twice the calls in flight.
UNWRITTEN_AT_MOST = 2 * CONCURRENCY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379"),
]


class Workers:
    """`manage.py worker` processes taking tasks from a Redis queue of their own, and a way to queue steps."""

    def __init__(self, settings, log_path, queue, **environment):
        self.queue, self.log_path, self.processes = queue, log_path, []
        self.environment = {
            **os.environ,
            "DATABASE_URL": _database_url(settings.DATABASES["default"]),
            "REDIS_URL": TEST_REDIS,
            "Q_CLUSTER_NAME": queue,
            "Q_WORKERS": "1",
            **environment,
        }

    def start(self, count):
        self.log = open(self.log_path, "a")
        for _ in range(count):
            self.processes.append(subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "worker"], env=self.environment, cwd=ROOT,
                stdout=self.log, stderr=self.log, start_new_session=True,
            ))
        return self

    def queue_steps(self, runs, monkeypatch):
        """What enqueue_step does in a process whose settings name this Redis queue."""
        monkeypatch.setattr(Conf, "REDIS", TEST_REDIS)
        monkeypatch.setattr(Conf, "PREFIX", self.queue)  # tasks are signed with the queue's name
        broker = RedisBroker(list_key=self.queue)
        for run in runs:
            async_task("optimization.tasks.run_step", run.pk, task_name=f"run {run.pk}", group="runs",
                       broker=broker)

    def kill(self, process):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
        self.log.close()
        redis.Redis.from_url(TEST_REDIS).delete(f"django_q:{self.queue}:q")

    def tail(self):
        return self.log_path.read_text()[-4000:]


def wait_for(predicate, seconds, what, workers):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{workers.tail()}")
        time.sleep(0.1)


def recovery_scheduled():
    """The schedule migration 0002 makes (a transactional test before this one may have flushed it)."""
    Schedule.objects.update_or_create(
        func="optimization.tasks.recover_stalled_runs",
        defaults={"name": "Resume runs whose worker died", "schedule_type": "I", "minutes": 1, "repeats": -1,
                  "next_run": timezone.now()},
    )


CONFIGURATIONS = [dict(seed=seed, temperature=round(0.1 * seed, 1)) for seed in range(6)]


def six_runs(dataset, model, **params):
    # Its own model name per group: the cache keeps groups apart, so each pays for what it asks.
    return [start_run(dataset, prompt_name=f"{model} {i}", primary_model=model, optimizer_model=model, **c | params)
            for i, c in enumerate(CONFIGURATIONS)]


def rows_of(run):
    paid = LLMCall.objects.filter(run=run, cached=False)
    return {
        "iterations": list(Iteration.objects.filter(run=run).values_list("number", flat=True)),
        "evaluations": Evaluation.objects.filter(run=run).count(),
        "predictions": Prediction.objects.filter(evaluation__run=run).count(),
        "paid calls": paid.count(),
        "paid tokens": paid.aggregate(tokens=Sum("input_tokens") + Sum("output_tokens"))["tokens"],
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="several workers need PostgreSQL (DATABASE_URL)")
def test_two_workers_on_redis_one_killed_mid_step_every_run_finishes_once(dataset, settings, tmp_path,
                                                                          monkeypatch):
    answers = dict(dataset.examples.values_list("input", "expected"))
    with StudentModel(answers, latency=0.1) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.OPENAI_CONCURRENCY = server.base_url, "k", 2
        undisturbed = [run_to_the_end(run) for run in six_runs(dataset, "calm")]
        sent_undisturbed = len(server.requests)

        recovery_scheduled()
        runs = six_runs(dataset, "shared")
        server.requests.clear()
        workers = Workers(settings, tmp_path / "workers.log", f"ops-workers-{os.getpid()}",
                          OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k",
                          OPENAI_CONCURRENCY=str(CONCURRENCY), RUN_LEASE_SECONDS="5").start(2)
        try:
            workers.queue_steps(runs, monkeypatch)
            # Both workers mid-step, well into the work (counted at the server, whatever has been written):
            # then one dies without a word.
            ids = [run.pk for run in runs]
            wait_for(lambda: len(server.requests) >= 0.4 * sent_undisturbed
                     and Run.objects.filter(pk__in=ids, lease_until__gt=timezone.now()).count() == 2,
                     120, "both workers mid-step", workers)
            workers.kill(workers.processes[0])
            wait_for(lambda: not Run.objects.filter(pk__in=ids, status__in=Run.ACTIVE).exists(), 240,
                     "every run to end on the surviving worker", workers)
            assert workers.processes[1].poll() is None  # the survivor did it
        finally:
            workers.stop()
        sent_disturbed = len(server.requests)

    for calm, shared in zip(undisturbed, runs):
        assert result_of(shared) == result_of(calm)  # status, iterations, best prompt, test scores
        assert rows_of(shared) == rows_of(calm)  # no row twice: iterations, evaluations, answers, paid calls
    # Only the answers not yet written at the kill were asked again; everything written before it was not paid twice.
    assert 0 <= sent_disturbed - sent_undisturbed <= UNWRITTEN_AT_MOST, (sent_disturbed, sent_undisturbed)
    assert not Prediction.objects.values("evaluation", "example").annotate(n=Count("id")).filter(n__gt=1).exists()
