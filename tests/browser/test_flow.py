"""The whole story in a real browser: an editor uploads a dataset, optimizes a prompt on it with the background
worker and sends the winner for review; an approver approves and promotes it; another team sees none of it.

Screenshots of the main pages go to test-artifacts/screenshots/.
"""

import re

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset
from optimization.models import AuditEntry, Run, RunStatus, VersionStatus
from optimization.services import prompt_create, run_create
from tests.support.people import BIGBENCH

from .conftest import PASSWORD

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),  # WhiteNoise: no collectstatic in tests
]

TASK = BIGBENCH / "entailed_polarity.json"
FIRST_INPUT = "The report was admitted to be incorrect."  # in the file's first example


def sign_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".who")).to_have_text(username)


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def refused_fields(form):
    """What the browser itself would refuse to send (HTML validation), as "name: message" lines."""
    return form.evaluate("f => [...f.elements].filter(e => !e.checkValidity())"
                         ".map(e => `${e.name}: ${e.validationMessage}`)")


def version_status(page):
    return page.locator("h1 .badge")


def test_from_upload_to_production_and_nothing_for_another_team(
    page, screenshot, student, start_worker, team, editor, approver, stranger
):
    # --- The editor uploads a BIG-bench task: a preview first, then the import of the file kept from it.
    sign_in(page, "erin")
    page.get_by_role("link", name="Upload a dataset").first.click()
    page.get_by_label("File").set_input_files(TASK)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview of entailed_polarity.json")).to_be_visible()
    expect(page.locator("table.examples tbody tr")).to_have_count(10)
    expect(page.locator("table.examples")).to_contain_text(FIRST_INPUT)
    expect(page.get_by_label("Name")).to_have_value("entailed_polarity")
    assert not Dataset.objects.exists()  # a preview imports nothing
    screenshot("dataset-upload-preview")

    assert refused_fields(page.locator("form.card")) == []  # the kept file needs no new choice to import
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messages")).to_contain_text("Imported 149 examples into entailed_polarity.")
    expect(page.get_by_role("heading", name="entailed_polarity")).to_be_visible()
    dataset = Dataset.objects.get()
    assert (dataset.team, dataset.created_by, dataset.examples.count()) == (team, editor, 149)
    screenshot("dataset-detail")
    page.get_by_placeholder("Search inputs and answers").fill("had begun to rain")  # HTMX filters in place
    expect(page.locator("#examples tbody tr")).to_have_count(1)
    expect(page.locator("#examples")).to_contain_text("Fact: It had begun to rain. Q: Was it raining?")
    expect(page).to_have_url(re.compile(r"\?q=had(\+|%20)begun(\+|%20)to(\+|%20)rain"))
    student.answers.update(dataset.examples.values_list("input", "expected"))

    # --- A prompt with the default texts, then a run on the loopback model, watched until it ends.
    page.goto("/prompts/new/")
    page.get_by_label("Name").fill("Polarity judge")
    page.get_by_role("button", name="Create the prompt").click()
    expect(page.locator(".messages")).to_contain_text("Prompt Polarity judge created with its first version.")

    page.goto(f"/datasets/{dataset.pk}/")
    page.get_by_role("link", name="Launch a run on it").click()
    page.get_by_label("Model provider").select_option("openai")
    page.get_by_label("Optimizer provider").select_option("openai")
    page.get_by_label("Examples per split").fill("10")
    page.get_by_label("Seed").fill("1")
    page.get_by_role("button", name="Estimate the cost").click()
    expect(page.locator("#estimate")).to_have_text(re.compile(r"^\d+$"))
    assert not Run.objects.exists()  # nothing runs before it is confirmed
    page.get_by_role("button", name="Launch the run").click()

    run = Run.objects.get()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/$"))
    run_status = page.locator("#run-live h2 .badge")
    expect(run_status).to_have_text("Queued")
    expect(page.locator("#run-live")).to_contain_text("Waiting for a worker")
    expect(page.locator(".messages")).to_contain_text(f"Run #{run.pk} is queued")
    page.evaluate("window.stillTheSamePage = true")  # gone if the page were reloaded instead of updated
    worker_log = start_worker()  # only now, so the page is seen going from queued to the end on its own
    expect(run_status).to_have_text(re.compile("Succeeded|Failed|Cancelled"), timeout=45_000)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, f"{run.last_error}\nworker log:\n{worker_log()}"
    assert page.evaluate("window.stillTheSamePage") is True  # HTMX updated the part in place
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile("."))  # polling stopped
    expect(page.locator("#messages")).to_be_empty()  # "queued" went at the first refresh
    expect(page.locator("#comparison")).to_contain_text("+1.00")
    expect(page.locator("#run-live svg").first).to_be_visible()
    assert (run.created_by, run.test_start_score, run.test_best_score) == (editor, 0.0, 1.0)
    best = run.best_version
    screenshot("run-live")

    # --- What changed, then the winner goes for review.
    page.get_by_role("link", name="what changed").click()
    expect(page.get_by_role("heading", name="Compare versions")).to_be_visible()
    expect(page.locator(".diff ins").first).to_be_visible()
    screenshot("version-diff")

    page.goto(f"/runs/{run.pk}/")
    page.get_by_role("link", name=f"Review {best}").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{best.prompt_id}/v{best.number}/$"))
    expect(version_status(page)).to_have_text("Candidate")
    page.get_by_placeholder("Comment (optional)").fill("Found by run; states the answer format.")
    page.get_by_role("button", name="Request review").click()
    expect(page.locator(".messages")).to_contain_text(f"{best} is sent for review.")
    expect(version_status(page)).to_have_text("In review")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # an editor is not offered it
    sign_out(page)

    # --- An approver (neither the author nor the one who launched the run) approves and promotes it.
    sign_in(page, "alex")
    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting for a review"))
    expect(waiting.get_by_role("link", name=str(best))).to_be_visible()
    screenshot("dashboard")
    waiting.get_by_role("link", name=str(best)).click()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text(f"{best} is approved.")
    expect(version_status(page)).to_have_text("Approved")
    page.get_by_role("button", name="Promote to production").click()
    expect(page.locator(".messages")).to_contain_text(f"{best} is promoted to production.")
    expect(version_status(page)).to_have_text("Production")
    expect(page.get_by_text("This is the version in production.")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Found by run; states the answer format.")
    screenshot("version")
    best.refresh_from_db()
    assert best.status == VersionStatus.PRODUCTION
    assert list(AuditEntry.objects.order_by("id").values_list("action", "actor")) == [
        ("request_review", editor.pk), ("approve", approver.pk), ("promote", approver.pk)]
    sign_out(page)

    # --- Someone of another team: nothing in their pages, and every direct address is refused.
    sign_in(page, "sam")
    secrets = ("entailed_polarity", "Polarity judge", "Search quality", FIRST_INPUT)
    for url in ("/", "/datasets/", "/prompts/", "/runs/", "/runs/new/"):
        page.goto(url)
        for secret in secrets:
            expect(page.locator("body")).not_to_contain_text(secret)
        if url == "/":
            screenshot("stranger-dashboard")
    prompt = best.prompt
    evaluation = run.evaluations.first()
    for url in (f"/datasets/{dataset.pk}/", f"/prompts/{prompt.pk}/", f"/prompts/{prompt.pk}/v{best.number}/",
                f"/prompts/{prompt.pk}/diff/", f"/runs/{run.pk}/", f"/runs/{run.pk}/live/",
                f"/runs/{run.pk}/results/?evaluation={evaluation.pk}"):
        response = page.goto(url)
        assert response.status in (403, 404), url
        for secret in secrets:
            expect(page.locator("body")).not_to_contain_text(secret)


def test_a_run_page_left_open_after_signing_out_goes_to_sign_in(page, team, editor, dataset):
    """The polled part must not swap the sign-in form into the run page: HTMX follows HX-Redirect instead."""
    prompt = prompt_create(team=team, name="Sports judge", created_by=editor)
    run = run_create(dataset=dataset, start_version=prompt.versions.get(), created_by=editor, enqueue=False,
                     primary_provider="openai", optimizer_provider="openai", examples_per_split=10)
    sign_in(page, "erin")
    page.goto(f"/runs/{run.pk}/")
    expect(page.locator("#run-live h2 .badge")).to_have_text("Queued")
    page.context.clear_cookies()  # the session ends while the page keeps polling
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next=/runs/{run.pk}/$"), timeout=5_000)
    expect(page.locator("#run-live")).to_have_count(0)


def test_a_token_made_in_the_page_fetches_the_production_prompt_until_revoked(page, screenshot, team, editor,
                                                                             approver, settings, tmp_path):
    from urllib.request import Request, urlopen

    from tests.support.api import isolate

    isolate(settings, tmp_path, fast_passwords=False)  # a cache of the test's own for the rate limit's counts

    from optimization.models import PromptVersion
    from optimization.reviews import review_approve, review_request, version_promote

    prompt = prompt_create(team=team, name="triage", created_by=editor)
    version = PromptVersion.objects.create(prompt=prompt, parent=prompt.versions.get(), created_by=editor,
                                           system_prompt="Route the ticket.", output_instruction="{input}")
    review_request(version=version, by=editor)
    review_approve(version=version, by=approver)
    version_promote(version=version, by=approver)

    sign_in(page, "erin")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("checkout service")
    page.get_by_role("button", name="Make a token").click()
    key = page.locator("#new-key").inner_text()
    screenshot("api-tokens-new")

    def fetch():
        request = Request(f"{page.url.split('/tokens/')[0]}/api/v1/prompts/triage/production/",
                          headers={"Authorization": f"Bearer {key}"})
        try:
            with urlopen(request) as response:
                return response.status
        except OSError as error:
            return error.code

    assert fetch() == 200
    page.goto("/tokens/")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    assert fetch() == 401
