from django.apps import AppConfig


class PromptOptConfig(AppConfig):
    name = "promptopt"
    verbose_name = "Teams"
