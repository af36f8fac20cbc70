"""`manage.py export_portals`: the portals and their bots as a portal file."""

from django.core.management.base import BaseCommand, CommandError

from checks.models import AuditLog
from checks.portal_file.export import export_portal_file
from checks.private_files import write_private


class Command(BaseCommand):
    help = "Export portals and their expected bots as a portal file (secrets left out unless --with-secrets)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("--with-secrets", action="store_true", help="include webhook codes, tokens and secrets")
        parser.add_argument("-o", "--output", help="write to this file instead of standard output")

    def handle(self, *args, format: str, with_secrets: bool, output: str | None, **options):
        text = export_portal_file(with_secrets=with_secrets, fmt=format)
        if with_secrets:
            AuditLog.objects.create(actor="export_portals", action="export-with-secrets", object_type="portal file")
        if output:
            # A new file of ours, 0600 before the first byte (with secrets it holds every credential
            # in clear), renamed into place: an existing file or symlink there is replaced, never
            # written through.
            try:
                write_private(output, text.encode("utf-8"))
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc.strerror}") from None
            self.stderr.write(f"Wrote {output}")
        else:
            self.stdout.write(text, ending="")
