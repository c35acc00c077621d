"""Sign-in throttling's two hooks into django-axes (settings: AXES_*): where a sign-in comes from, and the page
that refuses one after too many wrong passwords."""

import ipaddress

from django.conf import settings
from django.shortcuts import render


def client_address(request):
    """The address wrong passwords are counted against (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, or, behind
    TRUSTED_PROXY_COUNT proxies, the address the outermost of them saw. Each proxy appends the address it saw to
    X-Forwarded-For; a client may put anything before those, but not change them, so the count is taken from the
    right. Without that many valid entries (a request that did not come through the proxies), REMOTE_ADDR."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR")


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers to a sign-in refused after too many wrong passwords (AXES_LOCKOUT_CALLABLE), on
    the sign-in page and the admin's: a page that says why and for how long, with the status 429."""
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "minutes": max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)),
    }
    return render(request, "registration/locked_out.html", context, status=429)
