"""Browser tests: pytest-playwright drives Debian's Chromium against pytest-django's live server.

Playwright cannot download its own browser here, so it launches /usr/bin/chromium (`make test` installs it).

Playwright's sync API keeps an asyncio loop running in the test thread for as long as it lives, and Django
refuses database calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The
plugin's `playwright` fixture lives for the whole session, which would leave that loop running (and Django's
check switched off) for every test collected after these. So Playwright and the browser live for one module
here, and the variable is set for exactly that long.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.loopback.student import StudentModel
from tests.test_worker import _database_url

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "pw-for-tests-only"  # tests.support.people.PASSWORD


@pytest.fixture(scope="module")
def playwright():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium).")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="module")
def browser_type(playwright):
    return playwright.chromium


@pytest.fixture(scope="session")
def browser_type_launch_args():
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    return {"executable_path": str(CHROMIUM), "args": args}


@pytest.fixture(scope="module")
def browser(browser_type, browser_type_launch_args):
    browser = browser_type.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_context_args(live_server):
    return {"base_url": live_server.url, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def page(page):
    """The plugin's page, quicker to give up: a missing button should fail in seconds, not in 30."""
    page.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    return page


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads kept between the preview and the import land here, not in var/."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def screenshot(page):
    """screenshot("run-live") saves the whole page as test-artifacts/screenshots/run-live.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name):
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take


@pytest.fixture
def student(settings):
    """The loopback OpenAI-compatible model; fill `student.answers` once the examples exist."""
    with StudentModel({}) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "test-key"
        yield server


@pytest.fixture
def start_worker(settings, student, tmp_path):
    """start_worker() starts `manage.py worker` on the test database, asking the student model; it is killed
    at the end of the test. Returns a function that gives the tail of its log, for failure messages."""
    log_path = tmp_path / "worker.log"
    workers = []

    def start():
        env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]),
               "OPENAI_BASE_URL": student.base_url, "OPENAI_API_KEY": "test-key", "LLM_MAX_RETRIES": "1"}
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the worker has no event loop: keep Django's check
        log = open(log_path, "w")
        workers.append((subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "worker"], cwd=ROOT, env=env,
                                         stdout=log, stderr=log, start_new_session=True), log))
        return lambda: log_path.read_text()[-3000:]

    yield start
    for worker, log in workers:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        log.close()
