"""`manage.py verify`: verify now, synchronously, through the workers' code path."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection
from django.utils import timezone

from checks.alerts import waves
from checks.alerts.queue import dispatch
from checks.engine.answers import probe_now
from checks.engine.verify import verify_portal
from checks.models import AnswerProbe, Bot, Portal, Verification
from checks.status import ResponseFormat, Status

# Portals verified at once; each has its own rate limit, so they overlap well.
PARALLEL_PORTALS = 8


class Command(BaseCommand):
    help = (
        "Verify every enabled bot now (history, incidents and emails included) and print the outcomes. "
        "Exit status 0 when every bot is ok, 1 otherwise, 2 on usage or configuration errors."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--portal", action="append", default=[], metavar="NAME", help="verify only this portal (repeatable)"
        )
        parser.add_argument("--json", dest="as_json", action="store_true", help="one JSON object per bot per line")

    def handle(self, *args, portal: list[str], as_json: bool, **options):
        portals = self.select_portals(portal)
        started = timezone.now()
        rows = self.verify_all(portals)
        self.announce_waves(started)
        bots = {b.pk: b for b in Bot.objects.filter(pk__in=[r.bot_id for r in rows]).select_related("portal")}
        rows.sort(key=lambda r: (bots[r.bot_id].portal.name, bots[r.bot_id].label))
        probes = self.probe(rows, bots)
        for row in rows:
            probe = probes.get(row.bot_id)
            bot = bots[row.bot_id]
            self.stdout.write(self.format_json(row, bot, probe) if as_json else self.format_text(row, bot, probe))
        failed = sum(row.status != Status.OK for row in rows)
        if failed:
            raise CommandError(f"{failed} of {len(rows)} bot(s) not ok", returncode=1)

    def select_portals(self, names: list[str]) -> list[Portal]:
        if not names:
            return list(Portal.objects.filter(paused=False).order_by("name"))
        found = {p.name: p for p in Portal.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise CommandError(f"unknown portal name(s): {', '.join(unknown)}", returncode=2)
        portals = [found[n] for n in dict.fromkeys(names)]
        for p in portals:
            if p.paused:
                self.stderr.write(f"{p.name}: paused, not verified")
        return [p for p in portals if not p.paused]

    def verify_all(self, portals: list[Portal]) -> list[Verification]:
        if len(portals) < 2:
            return [row for p in portals for row in verify_portal(p.pk, manual=True, inline_alerts=True)]
        with ThreadPoolExecutor(max_workers=PARALLEL_PORTALS) as pool:
            return [row for rows in pool.map(verify_in_thread, [p.pk for p in portals]) for row in rows]

    def announce_waves(self, started) -> None:
        """A fleet wave opened by this run gathers for BOTWATCH_WAVE_GRACE as the workers' does, so
        that its one email lists every portal of the run; then it is announced (once, whoever is first)."""
        until = waves.gathering_until(started)
        if until is None:
            return
        wait = (until - timezone.now()).total_seconds()
        if wait > 0:
            self.stderr.write(f"A fleet wave opened: gathering its portals for {wait:.0f} s (BOTWATCH_WAVE_GRACE).")
            time.sleep(wait)
        dispatch(waves.announce_due(until), inline=True)

    def probe(self, rows: list[Verification], bots: dict[int, Bot]) -> dict[int, AnswerProbe]:
        """The answer probes of the bots that have one and answered the check; waits for their answers
        (each at most its `within`). A command, not a worker: sleeping here holds no worker thread."""
        due = [row.bot_id for row in rows if bots[row.bot_id].answer and row.response_format == ResponseFormat.EXTENDED]
        if not due:
            return {}
        longest = max(int(bots[pk].answer.get("within") or 30) for pk in due)
        self.stderr.write(f"Waiting for the answers of {len(due)} probed bot(s), at most {longest} s.")
        return probe_now(due)

    def format_json(self, row: Verification, bot: Bot, probe: AnswerProbe | None = None) -> str:
        return json.dumps(
            {
                "portal": bot.portal.name,
                "bot": bot.code or str(bot.bot_id),
                "status": str(row.status),
                "error": row.error_code or None,
                "http_status": row.http_status,
                "counters": row.counters,
                "duration_ms": row.duration_ms,
                "problems": [{"check": p["check"], "detail": p["detail"]} for p in row.problems or []],
                "event_backlog_s": row.event_backlog_s,
                "answer_ms": probe.answer_ms if probe is not None else None,
            }
        )

    def format_text(self, row: Verification, bot: Bot, probe: AnswerProbe | None = None) -> str:
        error = f"  {row.error_code}" if row.error_code else ""
        if probe is not None:
            error += f"  answer={probe.answer_ms}ms" if probe.answer_ms is not None else f"  answer={probe.outcome}"
        http = row.http_status if row.http_status is not None else "-"
        problems = "; ".join(f"{p['check']}: {p['detail']}" for p in row.problems or [])
        problems = f"  [{problems}]" if problems else ""
        return (
            f"{bot.portal.name:<20} {bot.label:<24} {row.status:<18} http={http} {row.duration_ms}ms{error}{problems}"
        )


def verify_in_thread(portal_id: int) -> list[Verification]:
    try:
        return verify_portal(portal_id, manual=True, inline_alerts=True)
    finally:
        close_old_connections()
        connection.close()
