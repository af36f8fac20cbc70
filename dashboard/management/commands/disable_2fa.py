"""`manage.py disable_2fa`: remove a user's two-factor login."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from checks.models import AuditLog
from dashboard import twofactor


class Command(BaseCommand):
    help = (
        "Remove a user's two-factor login (authenticator and backup codes), e.g. after a lost phone. "
        "They log in with the password alone, then set it up again (required for admins with BOTWATCH_REQUIRE_2FA=1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}", returncode=2)
        removed = twofactor.remove(user)
        AuditLog.objects.create(
            actor="disable_2fa",
            action="remove two-factor",
            object_type="user",
            object_id=str(user.pk),
            object_repr=username,
            changes={"devices removed": removed},
        )
        self.stdout.write(f"Two-factor login of {username} removed ({removed} device(s)).")
