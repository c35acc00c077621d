"""The real server, gunicorn on 127.0.0.1 and a port the OS picks, serving the test database: for tests of the
clients that applications run. The test's data must be committed (`django_db(transaction=True)`)."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.test_worker import _database_url

ROOT = Path(__file__).resolve().parent.parent


class AppServer:
    def __init__(self, settings):
        self.env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]),
                    "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONWARNINGS": "ignore"}
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process = None
        self.url = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "promptopt.wsgi", "--bind", "127.0.0.1:0", "--workers", "1",
             "--log-level", "info"],
            cwd=ROOT, env=self.env, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        seen = []
        for line in self.process.stderr:
            seen.append(line)
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if found:
                threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()
                self.url = f"http://127.0.0.1:{found.group(1)}"
                return self
        raise RuntimeError("gunicorn did not start:\n" + "".join(seen[-30:]))

    def pause(self):
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.killpg(self.process.pid, signal.SIGCONT)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
