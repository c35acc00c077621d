from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "optimization.rollouts"
    label = "rollouts"
    verbose_name = "Canary rollouts"
