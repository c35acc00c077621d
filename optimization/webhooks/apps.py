from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "optimization.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
