"""Sign-in is throttled (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
that sign-in is refused, even with the right password, until the cool-off has passed or an administrator lifts it;
on the sign-in page and the admin's alike, with a page that says so."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from tests.support.api import isolate

PASSWORD = "pw-for-tests-only"  # the fixtures' people's


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


def sign_in(username, password, *, url="/accounts/login/", address="127.0.0.1", **headers):
    """A sign-in from a fresh browser at `address`: the response to the form."""
    return Client(REMOTE_ADDR=address, **headers).post(url, {"username": username, "password": password})


def signed_in(response):
    return response.status_code == 302 and "sessionid" in response.cookies


def hammer(username, times=25, **where):
    return [sign_in(username, "wrong-password", **where).status_code for _ in range(times)]


def test_25_wrong_passwords_then_the_right_one_is_refused(editor, settings):
    statuses = hammer("erin")
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[:limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(statuses[limit:]) == {429}
    response = sign_in("erin", PASSWORD)
    assert response.status_code == 429 and not signed_in(response)
    page = response.content.decode()
    assert "Sign-in paused" in page and "Too many wrong passwords for erin" in page
    assert f"{settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page


def test_it_works_again_after_the_cool_off(editor, settings):
    hammer("erin")
    assert not signed_in(sign_in("erin", PASSWORD))
    # The attempts as they will look when the cool-off has passed since the last one.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert signed_in(sign_in("erin", PASSWORD))


def test_it_works_again_after_axes_reset(editor):
    hammer("erin")
    call_command("axes_reset", verbosity=0)
    assert signed_in(sign_in("erin", PASSWORD))


def test_the_lockout_is_for_one_username_from_one_address(editor, approver):
    hammer("erin")
    assert signed_in(sign_in("alex", PASSWORD))  # someone else, same address
    assert signed_in(sign_in("erin", PASSWORD, address="10.0.0.2"))  # the same person elsewhere


def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_starts_the_count_again(editor, settings):
    hammer("erin", times=settings.AXES_FAILURE_LIMIT - 1)
    assert signed_in(sign_in("erin", PASSWORD))
    hammer("erin", times=settings.AXES_FAILURE_LIMIT - 1)
    assert signed_in(sign_in("erin", PASSWORD))


def test_the_admin_sign_in_is_throttled_too(admin_user):
    statuses = hammer("admin", url="/admin/login/")
    assert statuses[-1] == 429
    response = sign_in("admin", "password", url="/admin/login/")  # admin_user's real password
    assert response.status_code == 429 and not signed_in(response)
    assert "Sign-in paused" in response.content.decode()
    call_command("axes_reset", verbosity=0)
    assert signed_in(sign_in("admin", "password", url="/admin/login/"))


def test_the_limit_and_the_cool_off_come_from_the_settings(editor, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)
    assert hammer("erin", times=3) == [200, 429, 429]
    assert "refused for 3 minutes" in sign_in("erin", PASSWORD).content.decode()


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(editor, settings):
    """Behind one proxy every request comes from the proxy's address: counted by that, anyone could lock anyone out."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"address": "10.0.0.1"}
    hammer("erin", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert signed_in(sign_in("erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy))  # erin, at home
    # What the attacker puts in front of the proxy's entry changes nothing.
    spoofed = sign_in("erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7", **proxy)
    assert spoofed.status_code == 429


@pytest.mark.parametrize("forwarded", ["not-an-address", "", "1.2.3.4, ", "1.2.3.4,x" + "9" * 500])
def test_a_forwarded_header_that_names_no_address_counts_the_proxys(editor, settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1
    statuses = hammer("erin", times=settings.AXES_FAILURE_LIMIT, HTTP_X_FORWARDED_FOR=forwarded, address="10.0.0.1")
    assert statuses[-1] == 429  # no 500: counted against the proxy's address
    assert AccessAttempt.objects.get().ip_address == "10.0.0.1"


def test_without_trusted_proxies_the_forwarded_header_is_ignored(editor):
    hammer("erin", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert not signed_in(sign_in("erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9"))
