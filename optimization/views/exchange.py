"""The pages' doors into optimization.exchange: a prompt's Export button and the Import page."""

import json

from django import forms
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render

from promptopt.errors import NotAllowed, PromptOptError
from promptopt.pages import member_view
from promptopt.teams.access import ScopedChoiceField, scoped_or_404, teams_of

from ..exchange import export_filename, prompt_export, prompt_import
from ..models import Prompt

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A JSON document from a prompt's Export button (here or on another instance).")
    team = ScopedChoiceField(queryset=None)
    name = forms.CharField(max_length=200, required=False, help_text="Empty: the name in the document.")

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_of(user)
        if self.fields["team"].queryset.count() == 1:
            self.fields["team"].initial = self.fields["team"].queryset.get()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_DOCUMENT_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB: not an exported prompt.")
        try:
            return json.loads(upload.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise forms.ValidationError(f"The file is not JSON: {exc}.") from None


@member_view
def prompt_export_view(request, pk):
    prompt = scoped_or_404(Prompt.objects.select_related("team"), request.user, pk=pk)
    return JsonResponse(prompt_export(prompt=prompt), json_dumps_params={"ensure_ascii": False, "indent": 2},
                        headers={"Content-Disposition": f'attachment; filename="{export_filename(prompt)}"'})


@member_view
def prompt_import_view(request):
    form = ImportForm(request.user, request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            prompt = prompt_import(team=form.cleaned_data["team"], document=form.cleaned_data["file"],
                                   by=request.user, name=form.cleaned_data["name"])
        except NotAllowed:
            raise
        except PromptOptError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Imported {prompt.name}: {prompt.versions.count()} versions, all drafts "
                                      "waiting for the usual review.")
            return redirect("prompts:detail", pk=prompt.pk)
    return render(request, "optimization/prompt_import.html", {"form": form})
