"""gunicorn's settings for the web container (docker-compose.yml): `gunicorn -c promptopt/gunicorn.conf.py`.

With PROMETHEUS_MULTIPROC_DIR, each gunicorn worker keeps its /metrics counters in a file there and /metrics adds
them up: the directory is emptied when gunicorn starts (counters start at zero with the process, as Prometheus
expects) and a dead worker's files are marked so."""

import os
from pathlib import Path

wsgi_app = "promptopt.wsgi:application"
bind = "0.0.0.0:8000"
workers = 2  # per container; scale web containers for more
timeout = 60


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for leftover in Path(directory).glob("*.db"):
            leftover.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
