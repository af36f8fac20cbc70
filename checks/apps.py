"""The Django app of the domain: models, engine, client, verdicts, alerts."""

from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Bot checks"
