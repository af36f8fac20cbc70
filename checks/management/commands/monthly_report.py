"""`manage.py monthly_report --portal NAME --month YYYY-MM [-o FILE]`: a portal's month for its customer."""

import sys

from django.core.management.base import BaseCommand, CommandError

from checks.customer import report
from checks.models import Portal


class Command(BaseCommand):
    help = (
        "Write the monthly report of a portal: uptime per bot, incidents, the portal's own outages. "
        "A PDF when FILE ends in .pdf, else HTML; without -o, the HTML on standard output."
    )

    def add_arguments(self, parser):
        parser.add_argument("--portal", required=True, help="the portal's name")
        parser.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
        parser.add_argument("-o", "--output", default="", help="the file to write (.pdf: PDF, else HTML)")

    def handle(self, *args, portal: str, month: str, output: str, **options):
        found = Portal.objects.defer(*Portal.ENCRYPTED_FIELDS).filter(name=portal).first()
        if found is None:
            raise CommandError(f"no portal named {portal[:100]!r}", returncode=2)
        try:
            parsed = report.Month.parse(month)
        except report.BadMonth as exc:
            raise CommandError(str(exc), returncode=2) from None
        built = report.build(found, parsed)
        if not output:
            sys.stdout.write(report.render_html(built, standalone=True))
            return
        if output.lower().endswith(".pdf"):
            data = report.render_pdf(built)
        else:
            data = report.render_html(built, standalone=True).encode()
        try:
            with open(output, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}", returncode=2) from None
        self.stdout.write(f"Wrote the {parsed} report of {found.name} to {output}")
