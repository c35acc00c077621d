"""Runs on the real background worker: same result as in the foreground, and nothing lost when it is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimization.models import Iteration, Run, RunStatus
from tests.loopback.student import StudentModel
from tests.test_loop import run_to_the_end, start_run

ROOT = Path(__file__).resolve().parent.parent


def result_of(run):
    run.refresh_from_db()
    return (
        run.status,
        run.stop_reason,
        run.iterations.count(),
        run.best_version.system_prompt if run.best_version else None,
        run.best_version.output_instruction if run.best_version else None,
        run.test_best_score,
        run.p_value,
    )


def test_a_queued_run_gives_what_a_foreground_run_gives(dataset, settings, django_capture_on_commit_callbacks,
                                                        monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the queue runs each task as it is queued
    answers = dict(dataset.examples.values_list("input", "expected"))
    with StudentModel(answers) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "k"
        foreground = run_to_the_end(start_run(dataset, use_cache=False))
        with django_capture_on_commit_callbacks(execute=True):
            queued = start_run(dataset, use_cache=False, prompt_name="queued", enqueue=True)
    assert result_of(queued) == result_of(foreground)
    assert queued.status == RunStatus.SUCCEEDED


def _database_url(db):
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _start_worker(env, log):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "worker"], env=env, cwd=ROOT, stdout=log, stderr=log,
        start_new_session=True,
    )


def _wait(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_is_resumed_without_losing_or_doubling_an_iteration(dataset, settings, tmp_path,
                                                                                     django_capture_on_commit_callbacks):
    with StudentModel({}, latency=0.15) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "k"
        settings.OPENAI_CONCURRENCY = 2
        undisturbed = run_to_the_end(start_run(dataset, use_cache=False, prompt_name="undisturbed"))

        env = {
            **os.environ,
            "DATABASE_URL": _database_url(settings.DATABASES["default"]),
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "k",
            "OPENAI_CONCURRENCY": "2",
            "RUN_LEASE_SECONDS": "2",
        }
        log = open(tmp_path / "worker.log", "w")
        run = start_run(dataset, use_cache=False, prompt_name="killed", enqueue=True)
        worker = _start_worker(env, log)
        try:
            _wait(lambda: Run.objects.get(pk=run.pk).iteration >= 2, 120, "the second iteration")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            killed_at = Run.objects.get(pk=run.pk)
            assert killed_at.status == RunStatus.RUNNING  # the run was left mid-way
            time.sleep(2.5)  # the dead worker's lease runs out
            worker = _start_worker(env, log)
            try:
                _wait(lambda: not Run.objects.get(pk=run.pk).is_active, 120, "the resumed run to end")
            except AssertionError:
                log.flush()
                raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            log.close()
    assert result_of(run)[:3] == result_of(undisturbed)[:3], (tmp_path / "worker.log").read_text()[-3000:]
    numbers = list(Iteration.objects.filter(run=run).values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
