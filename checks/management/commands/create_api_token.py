"""`manage.py create_api_token NAME --role read|write`: the token once, alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from checks.models import ApiToken, AuditLog


class Command(BaseCommand):
    help = (
        "Create an API token for /api/v1/ and /metrics and print it once, alone on the last line of "
        "standard output. Only its hash is stored: it cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="what will use the token, e.g. grafana or install-handler")
        parser.add_argument("--role", choices=ApiToken.Role.values, required=True, help="read, or write (also reads)")

    def handle(self, *args, name: str, role: str, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters", returncode=2)
        token, value = ApiToken.issue(name, role)
        AuditLog.objects.create(
            actor="create_api_token",
            action="create api token",
            object_type="apitoken",
            object_id=str(token.pk),
            object_repr=str(token)[:200],
            changes={"role": role},
        )
        self.stdout.write(f"Created {role} token {name!r} ({token.hint}…). It is shown once; store it now:")
        self.stdout.write(value)
