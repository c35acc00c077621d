"""A large upload in a real browser, with the real worker: the dataset's page shows the import going, then, by
itself, the examples; a broken large file ends with its error on the page."""

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset

from .test_flow import sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),  # WhiteNoise: no collectstatic in tests
]

CSV = "question,answer\n" + "".join(f"What is {i} plus {i}?,{2 * i}\n" for i in range(300))


@pytest.fixture(autouse=True)
def worker_media(settings, monkeypatch):
    """The worker process reads the kept file from the test's media folder, as the live server wrote it."""
    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))


def state():
    return list(Dataset.objects.values_list("status", "rows_done", "last_error"))


def upload(page, content):
    page.goto("/datasets/upload/")
    expect(page.locator(".limits")).to_contain_text("is imported in the background")
    page.get_by_label("File").set_input_files({"name": "sums.csv", "mimeType": "text/csv", "buffer": content.encode()})
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messages")).to_contain_text("sums is being imported in the background")


def test_the_page_follows_the_worker_until_the_examples_are_there(page, screenshot, start_worker, team, editor,
                                                                  settings):
    settings.DATASET_WORKER_IMPORT_MB = 0.001  # 1 kB: this 8 kB file goes to the worker
    sign_in(page, "erin")
    upload(page, CSV)
    expect(page.locator("#import-status")).to_contain_text("waiting for the worker")
    screenshot("dataset-importing")
    log = start_worker()
    try:  # HTMX asks every 2 s; once the import is over the page reloads itself
        expect(page.locator("#examples")).to_contain_text("What is 24 plus 24?", timeout=60_000)  # page 1: 25
    except AssertionError:
        raise AssertionError(f"the page never showed the examples ({state()}); worker log:\n{log()}") from None
    expect(page.locator(".stats")).to_contain_text("180")  # train: 60 % of 300
    assert Dataset.objects.get().status == "ready"


def test_a_broken_large_file_ends_with_its_error_on_the_page(page, screenshot, start_worker, team, editor, settings):
    settings.DATASET_WORKER_IMPORT_MB = 0.001
    sign_in(page, "erin")
    upload(page, CSV + "What is ten plus ten?\n")
    log = start_worker()
    try:
        expect(page.locator(".error-box")).to_contain_text("Line 302: 1 fields where the header has 2.",
                                                           timeout=60_000)
    except AssertionError:
        raise AssertionError(f"the page never showed the error ({state()}); worker log:\n{log()}") from None
    screenshot("dataset-import-failed")
    page.get_by_role("button", name="Delete this dataset").click()
    expect(page.locator(".messages")).to_contain_text("Deleted dataset sums.")
    assert not Dataset.objects.exists()
