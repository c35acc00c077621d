"""The dashboard, your API tokens, and what every page of the app shares: sign-in, refusals as 403, HTMX
fragments, pages."""

import functools
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from datasets.models import Dataset
from optimization.models import Prompt, PromptVersion, Run, VersionStatus

from .errors import NotAllowed
from .forms import TokenForm
from .models import ApiToken, Membership
from .teams import scoped

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


@member_view
def dashboard(request):
    user = request.user
    versions = scoped(PromptVersion.objects, user, "prompt__team").select_related("prompt", "created_by_run")
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("team").order_by("team__name"),
        "runs": scoped(Run.objects, user).select_related("start_version__prompt", "dataset", "created_by")[:8],
        "in_review": versions.filter(status=VersionStatus.IN_REVIEW).order_by("-created_at")[:10],
        "candidates": versions.filter(status=VersionStatus.CANDIDATE).order_by("-created_at")[:10],
        "has_datasets": scoped(Dataset.objects, user).exists(),
        "has_prompts": scoped(Prompt.objects, user).exists(),
    }
    return render(request, "dashboard.html", context)


@member_view
def tokens(request):
    """Your API tokens; a new one's key is shown in the answer to the form, once, and stored nowhere."""
    form = TokenForm(request.POST) if request.method == "POST" else TokenForm.new()
    new_token = resent = None
    if form.is_bound and form.is_valid():
        sent = request.session.get("token_forms_sent", [])
        once = form.cleaned_data["once"]
        if once and once in sent:
            resent = True  # a reload of the page that showed a key: no second token nobody will store
        else:
            new_token, key = ApiToken.issue(user=request.user, name=form.cleaned_data["name"],
                                            scope=form.cleaned_data["scope"], expires_at=form.expires_at())
            new_token.key = key
            if once:
                request.session["token_forms_sent"] = [*sent, once][-20:]
        form = TokenForm.new()
    context = {"form": form, "new_token": new_token, "resent": resent,
               "tokens": ApiToken.objects.filter(user=request.user)}
    response = render(request, "tokens.html", context)
    response["Cache-Control"] = "no-store"  # never keep a page that may hold a key
    return response


@require_POST
@member_view
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, user=request.user, pk=pk)  # another's token: a 404, as in the API
    if token.is_active:
        token.revoke()
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked: it stopped working at once.")
    return redirect("tokens")
