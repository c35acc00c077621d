import secrets
from datetime import timedelta

from django import forms
from django.utils import timezone

from .models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. checkout service.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices, initial=ApiToken._meta.get_field("scope").default,
        help_text="An application that fetches its prompt needs only serve. It cannot be changed later.",
    )
    expires_in = forms.TypedChoiceField(
        label="Expires", required=False, coerce=int, empty_value=None,
        choices=[("", "never"), (7, "in 7 days"), (30, "in 30 days"), (90, "in 90 days"), (365, "in a year")],
        help_text="From then on it is refused, like a revoked token.",
    )
    # A value for this one form: the same form sent again (a reload of the page that showed the key) is noticed.
    once = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)

    @classmethod
    def new(cls):
        return cls(initial={"once": secrets.token_urlsafe(12)})

    def expires_at(self):
        days = self.cleaned_data["expires_in"]
        return None if days is None else timezone.now() + timedelta(days=days)
