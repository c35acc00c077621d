"""`python -m benchmarks.workers`: skipped cleanly without PostgreSQL and Redis, measured with them."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.test_monitoring import TEST_REDIS, redis_is_up
from tests.test_worker import _database_url

ROOT = Path(__file__).resolve().parent.parent


def benchmark(**environment):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | environment
    return subprocess.run([sys.executable, "-m", "benchmarks.workers"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)


def test_it_is_skipped_cleanly_on_sqlite_and_the_orm_broker(tmp_path):
    done = benchmark(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("workers benchmark skipped: it needs PostgreSQL")


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql" or not redis_is_up(), reason="needs PostgreSQL and Redis")
def test_it_measures_one_and_two_workers_with_postgresql_and_redis(settings):
    done = benchmark(DATABASE_URL=_database_url(settings.DATABASES["default"]), REDIS_URL=TEST_REDIS)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"1 worker process: 6 runs in [\d.]+ s, [\d.]+ runs per minute", lines[1])
    scaling = float(re.fullmatch(r"worker scaling: (\d+\.\d\d)", lines[-1]).group(1))
    # The figure itself (target 1.7) is the benchmark's to report, run on a quiet machine: a timed assertion on
    # a shared CI machine would fail for the machine's load, not for the code.
    assert 0 < scaling <= 2.5, done.stdout
