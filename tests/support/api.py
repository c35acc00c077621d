"""What the API tests share: clients signed in the three ways, and a version put through the review workflow.

Plain functions rather than fixtures, so that the test modules import them like any code."""

import pytest
from rest_framework.test import APIClient

from optimization.api import production
from optimization.models import PromptVersion, VersionStatus
from optimization.reviews import review_approve, review_request, version_promote
from promptopt.api.authentication import TokenAuthentication
from promptopt.api.throttling import TokenRateThrottle
from promptopt.teams.models import ApiToken

API_URLS = pytest.mark.urls("promptopt.api_urls")


def isolate(settings, tmp_path, fast_passwords=True):
    """The file cache the settings use, in a directory of the test's own, and no counts or documents that an
    earlier test left in this process (test databases reuse ids). Passwords hashed fast: the fixtures' people
    have passwords, and the real hasher spends most of a test's time on them."""
    if fast_passwords:  # only before anyone signs in with a password made by the real hasher
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": str(tmp_path / "cache")}
    }
    TokenRateThrottle._counts.clear()
    TokenAuthentication._touched.clear()
    production._recent.clear()


def token_client(user, scheme="Bearer", scope=ApiToken.Scope.WRITE, expires_at=None):
    """A client that calls as a program does, with a fresh token of `user` (a `write` token unless told: one that
    may do whatever `user`'s roles allow)."""
    _, key = ApiToken.issue(user=user, name="tests", scope=scope, expires_at=expires_at)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def session_client(user):
    """A client signed in as a person in a browser is, CSRF checks included."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def new_version(prompt, author, text="Answer plausible or implausible.", status=VersionStatus.CANDIDATE):
    return PromptVersion.objects.create(prompt=prompt, system_prompt=text, output_instruction="{input}",
                                        created_by=author, status=status)


def ship(version, requester, approver):
    """Through the whole workflow, as two people: review, approval, production."""
    review_request(version=version, by=requester)
    review_approve(version=version, by=approver)
    return version_promote(version=version, by=approver)
