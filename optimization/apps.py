from django.apps import AppConfig


class OptimizationConfig(AppConfig):

    name = 'optimization'

    def ready(self):
        from promptopt.monitoring import add_collector

        from .monitoring import DatabaseCollector

        add_collector(DatabaseCollector())
