from django import forms

from promptopt.teams.access import ScopedChoiceField, teams_where
from promptopt.teams.models import Role

from .models import Event


class EndpointForm(forms.Form):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL",
                         help_text="Where the events are POSTed: a public http(s) address.")
    team = ScopedChoiceField(queryset=None)
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[Event.PROMOTED, Event.ROLLED_BACK])
    description = forms.CharField(max_length=200, required=False, help_text="What receives them, for your team.")

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_where(user, Role.APPROVER)
        if self.fields["team"].queryset.count() == 1:
            self.fields["team"].initial = self.fields["team"].queryset.get()
