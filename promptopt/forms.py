import secrets

from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. checkout service.")
    # A value for this one form: the same form sent again (a reload of the page that showed the key) is noticed.
    once = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)

    @classmethod
    def new(cls):
        return cls(initial={"once": secrets.token_urlsafe(12)})
