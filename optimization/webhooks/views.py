"""The Webhooks pages: a team's endpoints, and each endpoint's secret, events and delivery log."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import member_view, page_of
from promptopt.teams.access import may, scoped, scoped_or_404, teams_where
from promptopt.teams.models import Role

from . import services
from .forms import EndpointForm
from .models import Delivery, Endpoint


@member_view
def endpoint_list(request):
    form = EndpointForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(by=request.user, **form.cleaned_data)
        except NotAllowed:
            raise
        except PromptOptError as exc:
            form.add_error("url", exc.message)
        else:
            messages.success(request, f"Endpoint {endpoint.url} registered. Its secret is below: verify each "
                                      "delivery's signature with it.")
            return redirect("webhooks:detail", pk=endpoint.pk)
    endpoints = scoped(Endpoint.objects.select_related("team"), request.user).order_by("team__name", "url")
    deliveries = scoped(Delivery.objects.select_related("endpoint"), request.user)[:20]
    return render(request, "webhooks/list.html", {
        "form": form, "endpoints": endpoints, "deliveries": deliveries,
        "can_register": teams_where(request.user, Role.APPROVER).exists(),
    })


def _uuid(text):
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise Http404(f"No delivery {text!r}.") from None


def _endpoint(request, pk):
    return scoped_or_404(Endpoint.objects.select_related("team", "created_by"), request.user, pk=pk)


@member_view
def endpoint_detail(request, pk):
    endpoint = _endpoint(request, pk)
    return render(request, "webhooks/detail.html", {
        "endpoint": endpoint, "can_manage": may(request.user, endpoint.team, Role.APPROVER),
        "page": page_of(request, endpoint.deliveries.all()), "overlap_hours": settings.WEBHOOK_SECRET_OVERLAP_HOURS,
    })


@require_POST
@member_view
def endpoint_change(request, pk, action):
    endpoint = _endpoint(request, pk)
    try:
        if action == "delete":
            services.endpoint_delete(endpoint=endpoint, by=request.user)
            messages.success(request, f"Endpoint {endpoint.url} deleted with its delivery log.")
            return redirect("webhooks:list")
        if action in ("on", "off"):
            services.endpoint_update(endpoint=endpoint, by=request.user, active=action == "on")
            messages.success(request, f"Endpoint {endpoint.url} turned {action}.")
        elif action == "rotate":
            services.endpoint_rotate_secret(endpoint=endpoint, by=request.user)
            messages.success(request, "A new secret is below. Until "
                                      f"{endpoint.previous_secret_until:%Y-%m-%d %H:%M} UTC each delivery is also "
                                      "signed with the old one: switch the receiver to the new one before then.")
        elif action == "retry":
            delivery = scoped_or_404(Delivery.objects.select_related("endpoint"), request.user,
                                     endpoint=endpoint, pk=_uuid(request.POST.get("delivery")))
            services.delivery_retry(delivery=delivery, by=request.user)
            messages.success(request, "Queued to be sent again.")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except NotAllowed:
        raise
    except PromptOptError as exc:
        messages.error(request, exc.message)
    return redirect("webhooks:detail", pk=endpoint.pk)
