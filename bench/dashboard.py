"""Dashboard page times on PostgreSQL with 10,000 bots (or 100,000) and 90 days of history.

    .venv/bin/python bench/dashboard.py                       # seed (once) and measure
    .venv/bin/python bench/dashboard.py --reseed --requests 50
    .venv/bin/python bench/dashboard.py --bots 100000 --database-url postgres://.../bw_dash_100k

Seeds its own database (default bw_dash_bench, created if missing, kept between runs so a
second run only measures): portals of 50 bots, each bot with a day of checks at 5-minute
intervals (--raw-hours) packed per hour as the engine keeps them (the current hour open on the
bot's row), a whole verification row for every check that failed (1 %), 90 days of DailyStat
rows with their hours, a change row every other day, some open and resolved incidents. Then
requests each page in this process through Django's test client (middleware, ORM, templates:
everything but the socket) as a logged-in admin, and prints p50 / p95 / max in milliseconds
and the SQL queries per page. Targets (issue 6): overview p95 <= 300 ms, bot page p95 <= 150 ms.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS_MS = {"overview": 300, "bot page": 150}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_dash_bench")
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--per-portal", type=int, default=50)
    parser.add_argument("--raw-hours", type=int, default=24, help="hours of packed checks per bot")
    parser.add_argument("--days", type=int, default=90, help="days of daily aggregates per bot")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--reseed", action="store_true", help="drop the data and seed again")
    parser.add_argument("--fold", action="store_true", help="also time folding yesterday's packed hours")
    return parser.parse_args()


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the bench's PostgreSQL database if missing (fresh: drop it first)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    if not url.startswith("postgres"):
        sys.exit("bench/dashboard.py measures PostgreSQL: give a postgres:// --database-url")
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False


def insert_select(model, exprs: dict[str, str], from_sql: str, params: dict | None = None) -> None:
    """INSERT INTO <model> SELECT ...: given columns from SQL expressions, every other column its
    model default, so the seed keeps working when a field with a default is added."""
    from django.db import connection

    columns, values, defaults = [], [], {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in exprs:
            values.append(exprs[field.column])
        else:
            defaults[f"d_{field.column}"] = field.get_db_prep_save(field.get_default(), connection)
            values.append(f"%(d_{field.column})s")
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {from_sql}"
    with connection.cursor() as cur:
        cur.execute(sql, {**defaults, **(params or {})})


def seed(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from checks.history import days
    from checks.models import Bot, DailyStat, Incident, IncidentEvent, Portal, VerificationChange

    if Bot.objects.count() == args.bots and not args.reseed:
        print(f"using the seeded database ({args.bots} bots)")
        return
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE checks_portal, auth_user, checks_auditlog RESTART IDENTITY CASCADE")
    n_portals = -(-args.bots // args.per_portal)
    portals = Portal.objects.bulk_create(
        Portal(name=f"portal-{i:04d}", url=f"https://portal-{i:04d}.bitrix24.example", webhook_user_id=1)
        for i in range(n_portals)
    )
    Bot.objects.bulk_create((_bot(portals[g // args.per_portal], g) for g in range(args.bots)), batch_size=2000)
    per_bot = seed_checks(args.raw_hours)
    # One packed day for every row: the pages unpack it whatever it holds.
    day = [days.Hour(12, h % 3 == 0, 12 * 150, (1000 + h, 3, 60, 20)) for h in range(24)]
    hours = days.pack(day, (1023, 3, 60, 20))
    insert_select(
        DailyStat, _DAILY, "FROM checks_bot b CROSS JOIN generate_series(1, %(days)s) AS d",
        {"days": args.days, "hours": hours},
    )  # fmt: skip
    insert_select(
        VerificationChange, _CHANGE, "FROM checks_bot b CROSS JOIN generate_series(1, %(days)s / 2) AS d",
        {"days": args.days},
    )  # fmt: skip
    insert_select(Incident, _OPEN, "FROM checks_bot WHERE status IN ('not_found', 'unreachable')")
    insert_select(Incident, _RESOLVED, "FROM checks_bot WHERE id %% 10 = 1")
    insert_select(IncidentEvent, _EVENT, "FROM checks_incident")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(
        f"seeded {n_portals} portals, {args.bots} bots, {per_bot * args.bots} packed checks, "
        f"{args.days} days of aggregates "
        f"in {time.monotonic() - started:.0f} s"
    )


def _bot(portal, g: int):
    """Bot number g: 2 % not found, 1 % unreachable, 1 % not checked yet, the rest ok."""
    from django.utils import timezone

    from checks.models import Bot

    now = timezone.now()
    status = "not_found" if g % 50 == 7 else "unreachable" if g % 100 == 3 else "pending" if g % 100 == 5 else "ok"
    return Bot(
        portal=portal,
        code=f"bot_{g:05d}",
        status=status,
        status_since=now - timedelta(minutes=g % 300),
        last_checked_at=now - timedelta(minutes=g % 5),
        last_ok_at=now,
        last_duration_ms=80 + g % 400,
        count_message=1000 + g * 7,
        count_command=g % 20,
        count_chat=50 + g % 90,
        count_user=10 + g % 40,
        fields={"type": "bot", "language": "en", "eventMode": "fetch", "isHidden": False, "moduleId": "rest"},
        users=[{"id": 1, "name": "Support Bot", "bot": True, "type": "bot", "active": True}],
    )


def seed_checks(raw_hours: int) -> int:
    """Every bot's checks every 5 minutes for `raw_hours` hours, packed per hour (COPY), the current
    hour open on the bot's row, and a whole verification row for each check that failed (1 %)."""
    from django.db import connection
    from django.utils import timezone

    from checks.history import checklog, days
    from checks.models import Bot

    rng = random.Random(15)
    now = timezone.now()
    current = days.hour_start(now)
    hours = [current - timedelta(hours=h) for h in range(raw_hours, 0, -1)]
    bots = list(
        Bot.objects.values_list("id", "portal_id", "count_message", "count_command", "count_chat", "count_user")
    )
    failed, opened, checks = [], [], 0

    def hour_of(bot, start, minutes):
        nonlocal checks
        pk, portal_id, message, command, chat, user = bot
        data = bytearray()
        for minute in minutes:
            at = start + timedelta(minutes=minute, seconds=pk % 300 / 10)
            state = "unreachable" if rng.random() < 0.01 else "ok"
            grown = max(0, message - int((now - at).total_seconds()) // 300)
            counters = (grown, command, chat, user) if state == "ok" else None
            ms = 60 + rng.randrange(500)
            data += checklog.encode(hour=start, checked_at=at, slot=at, status=state, duration_ms=ms, counters=counters)
            if state != "ok":
                failed.append((pk, portal_id, at, ms))
            checks += 1
        return bytes(data)

    with connection.cursor() as cursor:
        with cursor.copy("COPY checks_checkhour (bot_id, hour, data) FROM STDIN") as copy:
            for bot in bots:
                for start in hours:
                    copy.write_row((bot[0], start, hour_of(bot, start, range(0, 60, 5))))
        open_minutes = range(0, (now - current).seconds // 60, 5)
        opened = [(bot[0], current, hour_of(bot, current, open_minutes)) for bot in bots]
        cursor.execute("CREATE TEMP TABLE bench_open (bot_id bigint, hour timestamptz, data bytea)")
        with cursor.copy("COPY bench_open (bot_id, hour, data) FROM STDIN") as copy:
            for row in opened:
                copy.write_row(row)
        cursor.execute(
            "UPDATE checks_bot b SET hour_start = o.hour, hour_checks = o.data FROM bench_open o WHERE o.bot_id = b.id"
        )
        columns = "bot_id, portal_id, slot, checked_at, status, error_code, error_description, http_status, " \
            "duration_ms, response_format, manual, problems, redirect_url, by_portal, changed"  # fmt: skip
        with cursor.copy(f"COPY checks_verification ({columns}) FROM STDIN") as copy:
            for pk, portal_id, at, ms in failed:
                copy.write_row((pk, portal_id, at, at, "unreachable", "TIMEOUT", "no answer", None, ms, "", False,
                                "[]", "", False, True))  # fmt: skip
    return checks // max(1, len(bots))


_DAILY = {
    "bot_id": "b.id",
    "day": "current_date - d",
    "checks": "288",
    "failures": "(b.id + d) %% 4",
    "total_duration_ms": "288 * (100 + (b.id + d) %% 200)",
    "count_message": "b.count_message - d * 800",
    "count_command": "b.count_command",
    "count_chat": "b.count_chat",
    "count_user": "b.count_user",
    "hours": "%(hours)s",
}
_CHANGE = {
    "bot_id": "b.id",
    "portal_id": "b.portal_id",
    "verification_id": "b.id * 1000 + d",
    "checked_at": "now() - d * interval '2 days'",
    "status": "CASE WHEN d %% 2 = 0 THEN 'ok' ELSE 'unreachable' END",
    "duration_ms": "120",
}
_OPEN = {
    "bot_id": "id",
    "portal_id": "portal_id",
    "state": "'open'",
    "status": "status",
    "last_status": "status",
    "error_code": "upper(status)",
    "started_at": "status_since",
    "opened_at": "status_since",
}
_RESOLVED = {
    "bot_id": "id",
    "portal_id": "portal_id",
    "state": "'resolved'",
    "status": "'unreachable'",
    "last_status": "'unreachable'",
    "started_at": "now() - interval '3 days'",
    "opened_at": "now() - interval '3 days'",
    "resolved_at": "now() - interval '2 days'",
}
_EVENT = {"incident_id": "id", "kind": "'opened'", "status": "status", "created_at": "opened_at"}


def measure(client, url: str, n: int) -> tuple[list[float], list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm-up: compiled templates, connection, session
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    queries = len(ctx.captured_queries)  # now: the next request resets the connection's query log
    times, cpu = [], []
    for _ in range(n):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, url
    return times, cpu, queries


def time_fold() -> None:
    """The hourly job's fold of yesterday (the part of it the seeded hours cover) into DailyStat."""
    from django.utils import timezone

    from checks.history import days, retention
    from checks.models import CheckHour

    day = timezone.localdate() - timedelta(days=1)
    start, end = days.day_start(day), days.day_start(day + timedelta(days=1))
    hours = CheckHour.objects.filter(hour__gte=start, hour__lt=end).count()
    began, cpu = time.perf_counter(), time.process_time()
    written = retention.aggregate_day(day)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(f"fold of {day}: {hours:,} packed hours into {written:,} daily rows in {wall:.1f} s ({cpu:.1f} s CPU here);"
          f" {wall / max(hours, 1) * 1e6:.0f} us per bot-hour")  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    seed(args)
    if args.fold:
        time_fold()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from checks.models import Bot, CheckHour, Verification

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "bench@example.com", "bench-password-1"
    )
    client = Client()
    client.force_login(user)
    rng = random.Random(6)
    bot_ids = list(Bot.objects.values_list("id", flat=True))
    pages = {
        "overview": lambda: "/",
        "overview, worst first": lambda: "/?sort=status",
        "overview, htmx refresh": lambda: "/",
        "bot page": lambda: f"/bots/{rng.choice(bot_ids)}/",
        "bot page, 30 days": lambda: f"/bots/{rng.choice(bot_ids)}/?range=30d",
        "alerts": lambda: "/alerts/",
        "alerts, resolved": lambda: "/alerts/?state=resolved",
    }
    print(
        f"{Bot.objects.count()} bots, {CheckHour.objects.count()} packed hours, "
        f"{Verification.objects.count()} whole verification rows; {args.requests} requests per page"
    )
    # A shared machine's load stretches wall times; CPU time of this process (PostgreSQL's
    # own work excluded) shows what a page costs when it has a core to itself.
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'page':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8} {'queries':>8}  target")
    for name, url in pages.items():
        headers = {"HX-Request": "true"} if "htmx" in name else {}
        client.defaults.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        times, cpu = [], []
        queries = 0
        for _ in range(args.requests if "bot page" in name else 1):
            t, c, queries = measure(client, url(), 1 if "bot page" in name else args.requests)
            times += t
            cpu += c
        for key in headers:
            client.defaults.pop(f"HTTP_{key.upper().replace('-', '_')}")
        p95 = percentile(times, 95)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"p95 <= {target}: {'met' if p95 <= target else 'MISSED'}"
        print(
            f"{name:<26} {statistics.median(times):>8.1f} {p95:>8.1f} {max(times):>8.1f}"
            f" {statistics.median(cpu):>8.1f} {queries:>8}  {verdict}"
        )


if __name__ == "__main__":
    main()
