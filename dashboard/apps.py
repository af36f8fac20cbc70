from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_role_groups(sender, **kwargs) -> None:
    from dashboard.roles import ensure_groups

    ensure_groups()


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "BotWatch dashboard"

    def ready(self) -> None:
        # dashboard has no models, so listen to every app's post_migrate (auth's creates Group).
        post_migrate.connect(_create_role_groups, dispatch_uid="dashboard-role-groups")
