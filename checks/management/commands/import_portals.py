"""`manage.py import_portals`: portals and their bots from a YAML or JSON portal file."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from checks.portal_file.bounded import MAX_FILE_BYTES, LimitError, check_size
from checks.portal_file.load import PortalFileError, import_portal_file


class Command(BaseCommand):
    help = "Import portals and their expected bots from a YAML or JSON portal file (docs/portal-file.md)."

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
        try:
            text, fmt = self.read(file)
        except LimitError as exc:
            self.stderr.write(str(exc))
            raise CommandError(f"{file}: 1 problem(s); nothing was imported", returncode=2) from None
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
            raise CommandError(f"{file}: {exc.count} problem(s); nothing was imported", returncode=2) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {file}: {summary}"))

    def read(self, file: str) -> tuple[str, str | None]:
        """The file's text and format; a file over the size limit is refused before it is read."""
        if file == "-":
            # One character more than the limit allows is enough to refuse it (checked in bytes later).
            return sys.stdin.read(MAX_FILE_BYTES + 1), None
        path = Path(file)
        try:
            check_size(path.stat().st_size)
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read the file: {exc.strerror or exc}", returncode=2) from None
        return text, "json" if path.suffix.lower() == ".json" else None
