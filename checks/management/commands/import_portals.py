import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from checks.portal_file import PortalFileError, import_portal_file


class Command(BaseCommand):
    help = "Import portals and their expected bots from a YAML or JSON portal file (SPEC §4)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the portal file (.yaml, .yml or .json), or - for standard input")
        parser.add_argument(
            "--send-credentials-to",
            action="append",
            default=[],
            metavar="HOST",
            help="a portal whose url moves to HOST may take its stored webhook code, OAuth secrets and bot "
            "tokens there (repeat for several hosts); without it they must be given again in the file",
        )

    def handle(self, *args, file: str, send_credentials_to: list[str], **options):
        if file == "-":
            text, fmt = sys.stdin.read(), None
        else:
            path = Path(file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{file}: cannot read the file: {exc.strerror or exc}", returncode=2) from None
            fmt = "json" if path.suffix.lower() == ".json" else None
        try:
            summary = import_portal_file(
                text,
                fmt=fmt,
                actor="import_portals",
                send_credentials_to=[h.strip().lower() for h in send_credentials_to],
            )
        except PortalFileError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(f"{file}: {len(exc.problems)} problem(s); nothing was imported", returncode=2) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {file}: {summary}"))
