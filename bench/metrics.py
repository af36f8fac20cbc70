"""GET /metrics on PostgreSQL with 10,000 bots: how long a scrape takes (target: at most 1 s).

    .venv/bin/python bench/metrics.py                      # seed (once) and measure
    .venv/bin/python bench/metrics.py --database-url postgres://postgres@127.0.0.1:5432/mine --reseed

Seeds its own database (default bw_metrics_bench, created if missing, kept between runs): 200
portals of 50 bots with counters, 1 % of them degraded with an event backlog, some not found
with open incidents, and 50 verifications per bot. Then scrapes /metrics through Django's whole
stack (token authentication, throttle, view, prometheus_client) in this process and prints:
the first scrape, which counts every verification into the running totals once; scrapes with
the cache emptied each time, each after a sweep's worth of new verifications (what a scrape
costs when Prometheus asks after the cache time ran out); and scrapes answered from the cache.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboard import ensure_database, insert_select, percentile, setup_django  # noqa: E402

TARGET_S = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_metrics_bench")
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--per-portal", type=int, default=50)
    parser.add_argument("--verifications-per-bot", type=int, default=50)
    parser.add_argument("--scrapes", type=int, default=20, help="timed scrapes of each kind")
    parser.add_argument("--reseed", action="store_true", help="drop the data and seed again")
    return parser.parse_args()


def seed(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from bench.dashboard import _OPEN, _VERIFICATION, _VERIFICATION_FROM, _bot
    from checks.models import Bot, Incident, Portal, Verification

    call_command("migrate", verbosity=0)
    if Bot.objects.count() == args.bots and not args.reseed:
        print(f"using the seeded database ({args.bots} bots)")
        return
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE checks_portal, checks_apitoken, checks_verificationtally, auth_user RESTART IDENTITY CASCADE"
        )
    n_portals = -(-args.bots // args.per_portal)
    portals = Portal.objects.bulk_create(
        Portal(name=f"portal-{i:04d}", url=f"https://portal-{i:04d}.bitrix24.example", webhook_user_id=1)
        for i in range(n_portals)
    )
    Bot.objects.bulk_create((_bot(portals[g // args.per_portal], g) for g in range(args.bots)), batch_size=2000)
    every_hundredth = list(Bot.objects.filter(status="ok").order_by("id").values_list("id", flat=True))[::100]
    Bot.objects.filter(pk__in=every_hundredth).update(
        status="degraded",
        event_backlog_s=1800,
        problems=[{"check": "event_backlog", "detail": "oldest event 30 min old", "key": "event_backlog"}],
    )
    insert_select(Verification, _VERIFICATION, _VERIFICATION_FROM, {"per_bot": args.verifications_per_bot})
    insert_select(Incident, _OPEN, "FROM checks_bot WHERE status IN ('not_found', 'unreachable')")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(
        f"seeded {n_portals} portals, {args.bots} bots, {Verification.objects.count()} verifications "
        f"in {time.monotonic() - started:.0f} s"
    )


SWEEP = {"bot_id": "b.id", "portal_id": "b.portal_id", "slot": "t", "checked_at": "t", "status": "b.status"}
# Settled rows (older than the tally's settling time), each bot's slot its own.
SWEEP_FROM = (
    "FROM checks_bot b CROSS JOIN LATERAL "
    "(SELECT clock_timestamp() - interval '3 minutes' + b.id * interval '1 microsecond' AS t) ts"
)


def add_sweep() -> None:
    """One verification per bot, like a sweep between two scrapes."""
    from checks.models import Verification

    insert_select(Verification, SWEEP, SWEEP_FROM)


def scrape(client, token: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    return elapsed, len(response.content)


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    seed(args)
    from django.core.cache import cache
    from django.test import Client

    from checks.models import ApiToken, Bot, Verification, VerificationTally

    VerificationTally.objects.all().delete()  # the first scrape counts every row, as on an upgrade
    token = ApiToken.issue("bench", "read")[1]
    client = Client()
    cache.clear()
    print(f"{Bot.objects.count()} bots, {Verification.objects.count()} verifications")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    first, size = scrape(client, token)
    cold = []
    for _ in range(args.scrapes):
        add_sweep()
        cache.clear()
        cold.append(scrape(client, token)[0])
    cached = [scrape(client, token)[0] for _ in range(args.scrapes)]
    lines = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).content.count(b"\n")
    print(f"text: {size / 1024:.0f} KB, {lines} lines")
    print(f"{'scrape':<44} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  target")
    rows = [
        ("first (counts every verification once)", [first]),
        ("cache empty, a sweep of new rows before each", cold),
        ("from the cache", cached),
    ]
    for name, times in rows:
        verdict = (
            "" if name == "from the cache" else f"<= {TARGET_S:g} s: {'met' if max(times) <= TARGET_S else 'MISSED'}"
        )
        print(
            f"{name:<44} {statistics.median(times):>7.3f} {percentile(times, 95):>7.3f} {max(times):>7.3f}  {verdict}"
        )


if __name__ == "__main__":
    main()
