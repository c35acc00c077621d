"""Your API tokens: make one (its key is shown once), see them, revoke one."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..pages import member_view
from .forms import TokenForm
from .models import ApiToken


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
