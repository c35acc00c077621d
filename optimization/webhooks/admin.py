from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.admin import TeamScopedAdmin, TeamScopedForm
from promptopt.teams.models import Role

from . import services
from .models import Delivery, Endpoint, Event
from .targets import checked_target


class EndpointForm(TeamScopedForm):
    """The service's checks, on the form: an error beside the field, not a refusal after saving."""

    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            checked_target(url)
        except PromptOptError as exc:
            raise forms.ValidationError(exc.message) from None
        return url

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("active") and self.instance.pk and not self.instance.active:
            try:
                checked_target(self.instance.url)  # turned on again: the address may have changed since
            except PromptOptError as exc:
                self.add_error("active", exc.message)
        return cleaned


@admin.register(Endpoint)
class EndpointAdmin(TeamScopedAdmin):
    """Registered and changed through the services, as on the page: the target is checked, the secret made."""

    form = EndpointForm
    role_to_change = Role.APPROVER
    add_fields = ("team", "url", "events", "description")
    editable_fields = ("events", "description", "active")
    list_display = ["url", "team", "active", "created_by", "created_at"]
    list_filter = ["active", "team"]
    search_fields = ["url", "description"]
    readonly_fields = ["created_by", "created_at"]
    exclude = ["secret", "previous_secret"]  # shown to the team's approvers on the endpoint's page, not here
    actions = ["rotate_secret"]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.endpoint_update(endpoint=obj, by=request.user, events=obj.events,
                                         description=obj.description, active=obj.active)
            else:
                created = services.endpoint_create(team=obj.team, url=obj.url, events=obj.events,
                                                   description=obj.description, by=request.user)
                obj.pk, obj.secret, obj.created_by, obj.created_at = (created.pk, created.secret, created.created_by,
                                                                      created.created_at)
        except NotAllowed as exc:  # the form offers only teams where the user is an approver
            raise PermissionDenied(exc.message) from exc

    @admin.action(description="Rotate the secrets of the selected endpoints", permissions=["change"])
    def rotate_secret(self, request, queryset):
        """Through the service, which checks the approver role in each endpoint's team; the new secret is on the
        endpoint's page, and the old one keeps signing beside it for WEBHOOK_SECRET_OVERLAP_HOURS."""
        for endpoint in queryset.select_related("team"):
            try:
                services.endpoint_rotate_secret(endpoint=endpoint, by=request.user)
            except PromptOptError as exc:
                self.message_user(request, f"{endpoint}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{endpoint}: a new secret, on the endpoint's page; the old one signs "
                                           f"beside it until {endpoint.previous_secret_until:%Y-%m-%d %H:%M} UTC.",
                                  messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(TeamScopedAdmin):
    """The delivery log: read and searched here, written only by the worker."""

    list_display = ["created_at", "event", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event", "team"]
    search_fields = ["endpoint__url", "last_error"]
    readonly_fields = ["id", "created_at", "delivered_at"]

    def has_delete_permission(self, request, obj=None):
        return False
