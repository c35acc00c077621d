"""Runs per minute with one and with two `manage.py worker` processes on one Redis queue over PostgreSQL.

The runs ask a loopback OpenAI-compatible server that answers after a fixed delay (as a hosted model does), so
the machine's cores are not what limits them: a worker mostly waits, and a second one should nearly double the
throughput. Each round's runs use a model name of their own, so no round is served from another's cache.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m benchmarks.workers

Without PostgreSQL and Redis it says so and exits cleanly: several workers on SQLite and django-q2's ORM broker
are not what this measures. It works in a scratch database and a queue of its own, both removed at the end.
"""

import atexit
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RUNS = 6
LATENCY = 0.2  # seconds per answer
CONCURRENCY = 2  # calls in flight per worker
WORKER_COUNTS = (1, 2)


def configured():
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) and os.environ.get(
        "REDIS_URL", "")


def scratch_database():
    """A database of its own on the server DATABASE_URL names, dropped at exit; DATABASE_URL then names it."""
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    name = f"promptopt_bench_{secrets.token_hex(4)}"
    server = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))


def setup_django():
    scratch_database()
    queue = f"bench-workers-{secrets.token_hex(4)}"
    os.environ["Q_CLUSTER_NAME"] = queue
    os.environ["PROMPTOPT_VAR_DIR"] = tempfile.mkdtemp(prefix="promptopt-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptopt.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # the workers inherit it: tasks are signed

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    def forget_queue():
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(f"django_q:{queue}:q")

    atexit.register(forget_queue)


def sports_dataset():
    from datasets.services import dataset_import
    from promptopt.teams.models import Team

    task = json.loads((ROOT / "data" / "bigbench" / "sports_understanding.json").read_text())
    task["examples"] = task["examples"][:60]
    team = Team.objects.create(name="Benchmark")
    return dataset_import(team=team, name="sports", file=io.BytesIO(json.dumps(task).encode()), filename="t.json")


def start_workers(count, server, log_path):
    environment = {
        **os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench",
        "OPENAI_CONCURRENCY": str(CONCURRENCY), "Q_WORKERS": "1", "LOG_LEVEL": "INFO",
    }
    log = open(log_path, "w")
    workers = [
        subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT, env=environment, stdout=log,
                         stderr=log, start_new_session=True)
        for _ in range(count)
    ]
    deadline = time.monotonic() + 120
    while Path(log_path).read_text().count("running.") < count:  # django-q2: "Q Cluster ... running."
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise SystemExit(f"The workers did not start:\n{Path(log_path).read_text()[-3000:]}")
        time.sleep(0.2)
    return workers, log


def stop_workers(workers, log):
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    log.close()


def runs_per_minute(dataset, server, count, log_path):
    from optimization.models import Run, RunStatus
    from optimization.services import prompt_create, run_create

    workers, log = start_workers(count, server, log_path)
    try:
        model = f"bench-{count}-workers"  # a model name per round: no answers from another round's cache
        started = time.perf_counter()
        runs = []
        for seed in range(RUNS):
            prompt = prompt_create(team=dataset.team, name=f"{model} {seed}")
            runs.append(run_create(
                dataset=dataset, start_version=prompt.versions.get(), primary_provider="openai",
                optimizer_provider="openai", primary_model=model, optimizer_model=model, examples_per_split=10,
                seed=seed, enqueue=True,
            ))
        ids = [run.pk for run in runs]
        deadline = time.monotonic() + 900
        while Run.objects.filter(pk__in=ids, status__in=Run.ACTIVE).exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"The runs did not end:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        stop_workers(workers, log)
    failed = Run.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCEEDED)
    if failed.exists():
        raise SystemExit(f"Runs did not succeed: {list(failed.values_list('pk', 'status', 'last_error'))}")
    rate = RUNS / elapsed * 60
    print(f"{count} worker process{'es' if count > 1 else ''}: {RUNS} runs in {elapsed:.1f} s, "
          f"{rate:.1f} runs per minute", flush=True)
    return rate


def main():
    if not configured():
        print("workers benchmark skipped: it needs PostgreSQL (DATABASE_URL=postgres://...) and Redis (REDIS_URL)")
        return
    setup_django()
    from tests.loopback.student import StudentModel

    dataset = sports_dataset()
    answers = dict(dataset.examples.values_list("input", "expected"))
    log_dir = Path(tempfile.mkdtemp(prefix="promptopt-bench-workers-"))
    print(f"{RUNS} runs of 60 examples (10 per split) against a loopback model answering in {LATENCY * 1000:.0f} ms, "
          f"{CONCURRENCY} calls in flight per worker; PostgreSQL and Redis", flush=True)
    with StudentModel(answers, latency=LATENCY) as server:
        rates = {count: runs_per_minute(dataset, server, count, log_dir / f"{count}.log") for count in WORKER_COUNTS}
        requests = len(server.requests)
    print(f"{requests} requests to the model in all")
    print(f"worker scaling: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
