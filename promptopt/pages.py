"""What every page shares: sign-in, a service's refusal as a 403 page, HTMX fragments, pagination."""

import functools
from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from .errors import NotAllowed

PAGE_SIZE = 25


def is_htmx(request):
    # Works with or without django-htmx's middleware (which would set request.htmx from the same header).
    return request.headers.get("HX-Request") == "true"


def member_view(view):
    """Sign-in required; a refusal from a service (NotAllowed) becomes a 403 page that shows its message."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if is_htmx(request):
                # A fragment (a polled run) must not swap the sign-in form into the page: send the page there.
                current = urlsplit(request.headers.get("HX-Current-URL", ""))
                page = current.path + (f"?{current.query}" if current.query else "") or "/"
                return HttpResponseClientRedirect(redirect_to_login(page).url)
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc

    return wrapper


def render_page(request, template, context, *, fragment=None):
    """The whole page, or only `fragment` when HTMX asks for it: one URL serves both, with or without JS."""
    response = render(request, fragment if fragment and is_htmx(request) else template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def page_of(request, queryset, size=PAGE_SIZE):
    """The page asked for in ?page=; a number out of range or not a number gives the nearest page."""
    return Paginator(queryset, size).get_page(request.GET.get("page"))
