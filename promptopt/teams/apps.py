from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "promptopt.teams"
    label = "promptopt"  # the tables, migrations and permissions keep the label they were made with
    verbose_name = "Teams"
