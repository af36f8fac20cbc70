"""`manage.py status_link NAME [--rotate|--revoke]`: the customer status page's address, alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from checks.customer import links
from checks.models import AuditLog, Portal


class Command(BaseCommand):
    help = (
        "Print the address of portal NAME's customer status page alone on the last line, creating the link "
        "if it has none. --rotate replaces it; --revoke removes it (the old address then answers 404)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the portal's name")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--rotate", action="store_true", help="replace the link: the old address stops working")
        group.add_argument("--revoke", action="store_true", help="remove the link: the old address answers 404")

    def handle(self, *args, name: str, rotate: bool, revoke: bool, **options):
        portal = Portal.objects.filter(name=name).first()
        if portal is None:
            raise CommandError(f"no portal named {name[:100]!r}", returncode=2)
        if revoke:
            had = links.revoke(portal)
            if had:
                self._audit(portal, "revoke status link")
            self.stdout.write(
                f"{portal.name}: {'link revoked' if had else 'had no link'}; its status page answers 404."
            )
            return
        if rotate:
            token = links.issue(portal)
            self._audit(portal, "rotate status link")
        else:
            token, created = links.ensure(portal)
            if created:
                self._audit(portal, "create status link")
        self.stdout.write(f"Status page of {portal.name} (share it with the customer only):")
        self.stdout.write(links.page_url(token))

    def _audit(self, portal: Portal, action: str) -> None:
        AuditLog.record(None, "status_link", action, portal)
