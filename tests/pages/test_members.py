"""Signing in, and pages for members: anonymous visitors are sent to sign in, every page renders for a team member,
a viewer reads but is not offered writes, and the dashboard says what to do next."""

from optimization.models import Run, RunStatus
from optimization.reviews import review_request
from tests.pages.support import SYSTEM_TEXT, client_for, pages, text


def test_anonymous_visitors_are_sent_to_sign_in(client, dataset, prompt, version, queued_run):
    for url in pages(dataset, prompt, version, queued_run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    response = client.post(f"/runs/{queued_run.pk}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Run.objects.get(pk=queued_run.pk).status == RunStatus.QUEUED


def test_a_polled_fragment_sends_a_signed_out_page_to_sign_in(client, queued_run):
    response = client.get(f"/runs/{queued_run.pk}/live/", headers={
        "HX-Request": "true", "HX-Current-URL": f"http://testserver/runs/{queued_run.pk}/"})
    assert response["HX-Redirect"] == f"/accounts/login/?next=/runs/{queued_run.pk}/"
    assert "password" not in text(response)


def test_a_member_signs_in_on_the_sign_in_page(client, editor):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'name="password"' in text(page)
    response = client.post("/accounts/login/", {"username": "erin", "password": "pw-for-tests-only"})
    assert (response.status_code, response["Location"]) == (302, "/")
    wrong = client.post("/accounts/login/", {"username": "erin", "password": "nope"})
    assert wrong.status_code == 200 and "error-box" in text(wrong)


def test_every_page_renders_for_a_team_member(approver, dataset, prompt, version, finished_run):
    client = client_for(approver)
    for url in pages(dataset, prompt, version, finished_run):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<title>" in text(response) or url.endswith("/live/"), url
    assert "sports" in text(client.get("/datasets/"))
    assert SYSTEM_TEXT in text(client.get(f"/prompts/{prompt.pk}/v1/"))
    assert f'href="/runs/{finished_run.pk}/"' in text(client.get("/runs/"))


def test_a_viewer_reads_but_is_not_offered_writes(viewer, prompt, version):
    client = client_for(viewer)
    page = text(client.get(f"/prompts/{prompt.pk}/v1/"))
    assert SYSTEM_TEXT in page
    assert "Write a new version" not in page and "Request review" not in page
    refused = client.get(f"/prompts/{prompt.pk}/v1/new/")
    assert refused.status_code == 403 and "editor role" in text(refused)


def test_the_dashboard_says_what_to_do_next(editor, django_user_model):
    assert "Upload a dataset" in text(client_for(editor).get("/"))
    loner = django_user_model.objects.create_user(username="lone", password="x")
    assert "You are not in a team yet" in text(client_for(loner).get("/"))


def test_the_dashboard_lists_versions_waiting_for_review(approver, editor, version):
    review_request(version=version, by=editor)
    page = text(client_for(approver).get("/"))
    assert "Sports judge v1" in page and "No version is waiting" not in page
