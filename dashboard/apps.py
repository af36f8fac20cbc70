"""The Django app of the web UI and the API; its system checks and groups are set up when ready."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "BotWatch dashboard"

    def ready(self) -> None:
        # Imported here: dashboard.roles needs auth's models, which exist once apps are ready.
        from dashboard import system_checks  # noqa: F401 (registers the checks)
        from dashboard.roles import ensure_groups

        def create_role_groups(sender, **kwargs) -> None:
            ensure_groups()

        # dashboard has no models, so listen to every app's post_migrate (auth's creates Group).
        post_migrate.connect(create_role_groups, dispatch_uid="dashboard-role-groups", weak=False)
