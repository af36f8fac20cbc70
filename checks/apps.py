"""The Django app of the domain: models, engine, client, verdicts, alerts."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Bot checks"

    def ready(self) -> None:
        from checks.alerts.channels import seed_channels

        # BOTWATCH_NOTIFY_URLS becomes named default channels at every migrate (idempotent).
        post_migrate.connect(lambda **kwargs: seed_channels(), sender=self, weak=False)
