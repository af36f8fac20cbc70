"""Sustained load: real beat and workers verifying N portals x M bots every interval, for minutes.

    .venv/bin/python bench/sustained.py                       # 2000 x 50, 120 s, 5 minutes
    .venv/bin/python bench/sustained.py --before main         # main's code first, then this tree
    .venv/bin/python bench/sustained.py --portals 200 --minutes 2

Starts the Bitrix24 simulator in its own process (real cloud limits per portal, the given
latency on every request), seeds PostgreSQL with bulk_create (product defaults: pacing,
fetch-mode bots), every bot's first slot spread over one interval as in a deployment that has
run for a while, then starts `celery -A dashboard beat` and `celery -A dashboard worker`
(--workers of them; the pool and its size are the app's own unless --pool/--concurrency say
otherwise), lets them run, and prints:

- on schedule: the share of bots every check of which during the run came within --grace
  seconds of its slot, and none overdue by more than that at the end;
- late checks: checks recorded more than --grace seconds after their slot;
- verifications/s and portal runs/s over the run, the 503s the simulator answered, and the CPU
  seconds of the workers (with their pool processes), beat, PostgreSQL and the simulator;
- history bytes per check: how much the history tables (heap, indexes, TOAST, and the open hours
  on the bots' rows) grew over the run, per check recorded, and from one interval in (every bot
  checked once: a bot's first check is a change, written whole) to the end; and how much the bot
  table grew
  (every check rewrites its bot's row: the old versions until they are pruned, and the open hour);
- storage measured whole, per check: the WAL PostgreSQL wrote (pg_current_wal_lsn before and
  after: every table's writes, the bots' rows included) and the growth of the whole database
  (pg_database_size); worker CPU milliseconds per check. WAL is the cluster's: run the bench on a
  cluster nothing else writes to (an embedded one: see docs/performance.md).

Checks are read from whichever layout the code wrote: packed hours (checks.history.checklog), or a
verification row per check (the layout before them), so --before can name a commit of either.

--before REF runs the same load first with the code of git REF (exported with `git archive`
into a temporary folder; same virtualenv, same database schema), then with this tree, and
prints both side by side. The database (default: h2) and Redis db (default: 12) are emptied.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.history import open_hours_size, table_size  # noqa: E402
from bench.simserver import WEBHOOK_CODE, portal_name  # noqa: E402
from bench.sweep import (  # noqa: E402
    checks_recorded,
    cpu_seconds,
    empty_broker,
    ensure_database,
    postgres_cpu_seconds,
    start_simulator,
)


@dataclass
class Result:
    label: str
    bots: int
    seconds: float
    rows: int = 0
    runs: int = 0
    on_schedule: float = 0.0
    late_rows: int = 0
    history_bytes: int = 0  # over the whole run
    steady_bytes: int = 0  # after every bot's first check (one interval and the grace in)
    steady_checks: int = 0
    bot_table_bytes: int = 0
    wal_bytes: int = 0  # WAL written over the run (pg_current_wal_lsn before and after)
    database_bytes: int = 0  # the whole database's growth: every table, index and TOAST, bots included
    overdue_end: int = 0
    http_503: int = 0
    cpu: dict = field(default_factory=dict)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=2000)
    parser.add_argument("--bots", type=int, default=50, help="bots per portal")
    parser.add_argument("--interval", type=int, default=120, help="BOTWATCH_CHECK_INTERVAL, seconds")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--grace", type=float, default=15.0, help="seconds after its slot a check still counts")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--pool", default="", help="override the app's pool (threads, prefork)")
    parser.add_argument("--concurrency", type=int, default=0, help="override the app's pool size")
    parser.add_argument("--before", default="", help="git ref to run first, for a side-by-side comparison")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/h2")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    return parser.parse_args()


def configure(args: argparse.Namespace) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "BOTWATCH_SECRET_KEYS": "bench-encryption-key-0001",
        "BOTWATCH_ALLOW_HTTP": "1",
        "BOTWATCH_ALLOW_PRIVATE_PORTALS": "1",  # the simulator listens on 127.0.0.1
        "BOTWATCH_CHECK_INTERVAL": str(args.interval),
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CELERY_BROKER_URL": args.redis_url,
        "BOTWATCH_VAR_DIR": "/tmp/botwatch-sustained-var",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return {**os.environ, **env}


def seed(base_url: str, args: argparse.Namespace):
    """Portals and bots with the product's defaults; slots spread evenly over one interval from now.

    Returns that now: start_slots moves the slots on by the time the setup took.
    """
    from django.db import connection
    from django.utils import timezone

    from checks.models import Bot, Portal

    with connection.cursor() as cursor:
        # The tallies have no foreign key (they outlive deleted portals): emptied by name, or a code
        # before them, which leaves them alone, would be counted from another run's totals.
        cursor.execute("TRUNCATE checks_portal, checks_heartbeat, checks_checktally CASCADE")
    now = timezone.now()
    portals = Portal.objects.bulk_create(
        Portal(
            name=portal_name(p),
            url=f"{base_url}/{portal_name(p)}",
            webhook_user_id=1,
            webhook_code=WEBHOOK_CODE,
            next_check_at=now + timedelta(seconds=args.interval * p / args.portals),
        )
        for p in range(args.portals)
    )
    Bot.objects.bulk_create(
        (
            Bot(portal=p, code=f"bot{b}", bot_token=f"token{b}", next_check_at=p.next_check_at)
            for p in portals
            for b in range(args.bots)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checks_portal, checks_bot, checks_verification, checks_checkhour")
    return now


def start_slots(seeded_at) -> None:
    """The first slots as seeded, counted from now rather than from before the setup."""
    from django.db.models import F
    from django.utils import timezone

    from checks.models import Bot, Portal

    shift = timezone.now() - seeded_at
    Bot.objects.update(next_check_at=F("next_check_at") + shift)
    Portal.objects.update(next_check_at=F("next_check_at") + shift)


def export_tree(ref: str) -> Path:
    """The code of a git ref in a temporary folder (not a worktree: nothing of git's state changes)."""
    target = Path(tempfile.mkdtemp(prefix="botwatch-before-"))
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def start_celery(args: argparse.Namespace, env: dict, tree: Path, seeded_at) -> tuple[list, subprocess.Popen]:
    from checks.models import Heartbeat

    var = Path(env["BOTWATCH_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "celery", "-A", "dashboard"]
    workers = []
    for i in range(args.workers):
        cmd = [*python, "worker", "-n", f"sustained{i}@%h", "--loglevel", "WARNING"]
        cmd += ["--pool", args.pool] if args.pool else []
        cmd += ["--concurrency", str(args.concurrency)] if args.concurrency else []
        log = open(var / f"worker{i}.log", "ab")  # noqa: SIM115 - lives with the worker
        workers.append(subprocess.Popen(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    while Heartbeat.objects.filter(name__startswith="worker:").count() < args.workers:
        if time.monotonic() > deadline or any(p.poll() is not None for p in workers):
            stop([*workers])
            raise SystemExit("the workers did not start")
        time.sleep(0.2)
    start_slots(seeded_at)
    schedule = var / f"celerybeat-schedule-{os.getpid()}"
    beat_cmd = [*python, "beat", "--loglevel", "WARNING", "--schedule", str(schedule)]
    beat = subprocess.Popen(beat_cmd, cwd=tree, env=env, stdout=open(var / "beat.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    return workers, beat


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its living children (a prefork worker's pool processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # ppid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total + cpu_seconds(pid)


def measure(label: str, args: argparse.Namespace, env: dict, tree: Path, sim, control) -> Result:
    from django.utils import timezone

    from checks.models import Bot

    seeded_at = seed(control.base_url, args)
    empty_broker(args.redis_url)
    for p in range(args.portals):
        control.reset_limits(portal_name(p))
    control.reset_stats()
    workers, beat = start_celery(args, env, tree, seeded_at)
    started, t0 = time.monotonic(), timezone.now()
    before = cpu_snapshot(workers, beat, sim)
    history_before, recorded_before, bots_before = history_bytes(), checks_recorded(), table_size("checks_bot")
    wal_before, database_before = wal_position(), database_size()
    steady = None  # (history bytes, checks) once every bot has had its first check
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(10)
            done = checks_recorded() - recorded_before
            print(f"  {label}: {time.monotonic() - started:5.0f} s, {done} verifications", flush=True)
            if steady is None and time.monotonic() - started >= args.interval + args.grace:
                steady = (history_bytes(), checks_recorded())
        t1, seconds = timezone.now(), time.monotonic() - started
        after = cpu_snapshot(workers, beat, sim)
    finally:
        stop([beat, *workers])
    result = Result(label, args.portals * args.bots, seconds)
    result.cpu = {k: after[k] - before[k] for k in after}
    result.history_bytes = history_bytes() - history_before
    if steady is not None:
        result.steady_bytes = history_bytes() - steady[0]
        result.steady_checks = checks_recorded() - steady[1]
    result.bot_table_bytes = table_size("checks_bot") - bots_before
    result.wal_bytes = wal_position() - wal_before
    result.database_bytes = database_size() - database_before
    grace = timedelta(seconds=args.grace)
    checks = recorded_checks(t0, t1)
    result.rows = len(checks)
    # A run's checks share the portal and the moment they were recorded.
    result.runs = len({(portal, at) for _, portal, at, _ in checks})
    late = [bot for bot, _, at, slot in checks if at > slot + grace]
    result.late_rows = len(late)
    overdue = set(Bot.objects.filter(next_check_at__lt=t1 - grace).values_list("pk", flat=True))
    result.overdue_end = len(overdue)
    # A bot is off schedule if one of its checks came late, or it is overdue at the end.
    result.on_schedule = 1 - len(set(late) | overdue) / result.bots
    stats = control.stats()
    result.http_503 = sum(s["by_http_status"].get("503", 0) for s in stats.values())
    return result


def packed() -> bool:
    """Whether the code under measure packs its checks (else a verification row holds each)."""
    from checks.models import Bot, CheckHour

    return CheckHour.objects.exists() or Bot.objects.filter(hour_start__isnull=False).exists()


def recorded_checks(t0, t1) -> list[tuple]:
    """(bot id, portal id, checked_at, slot) of every scheduled check recorded from t0 to t1."""
    from checks.history import checklog
    from checks.models import Bot, CheckHour, Verification

    if not packed():
        rows = Verification.objects.filter(checked_at__gte=t0, checked_at__lte=t1, manual=False)
        return list(rows.values_list("bot_id", "portal_id", "checked_at", "slot"))
    portal_of = dict(Bot.objects.values_list("pk", "portal_id"))
    hours = list(CheckHour.objects.filter(hour__gt=t0 - timedelta(hours=1)).values_list("bot_id", "hour", "data"))
    hours += list(Bot.objects.filter(hour_start__isnull=False).values_list("pk", "hour_start", "hour_checks"))
    return [
        (bot_id, portal_of[bot_id], check.checked_at, check.slot)
        for bot_id, hour, data in hours
        for check in checklog.decode(data, hour)
        if t0 <= check.checked_at <= t1 and not check.manual
    ]


def history_bytes() -> int:
    """The history on disk now: every history table (partitions, indexes, TOAST) and the open hours."""
    tables = ["checks_verification", "checks_checkhour", "checks_verificationchange", "checks_dailystat"]
    return sum(table_size(table) for table in tables) + open_hours_size()


def wal_position() -> int:
    """Where PostgreSQL's write-ahead log stands, in bytes (every write of every session counts)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def database_size() -> int:
    """The whole database on disk: every table with its indexes and TOAST, not only the history."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def cpu_snapshot(workers: list, beat: subprocess.Popen, sim) -> dict:
    return {
        "workers": sum(tree_cpu(p.pid) for p in workers),
        "beat": tree_cpu(beat.pid),
        "postgres": postgres_cpu_seconds(),
        "simulator": cpu_seconds(sim.pid),
    }


def report(args: argparse.Namespace, results: list[Result]) -> None:
    print(
        f"\n{args.portals} portals x {args.bots} bots = {args.portals * args.bots} bots, interval {args.interval} s,"
        f" {args.latency_ms:.0f} ms latency, {args.minutes:g} min, grace {args.grace:g} s,"
        f" {args.workers} workers, {os.cpu_count()} CPUs"
    )
    need = args.portals * args.bots / args.interval
    print(f"needed on average: {need:.0f} verifications/s, {args.portals / args.interval:.1f} portal runs/s")
    lines = [
        ("bots on schedule", lambda r: f"{100 * r.on_schedule:.1f} %"),
        ("late checks (> grace)", lambda r: f"{r.late_rows}"),
        ("bots overdue at the end", lambda r: f"{r.overdue_end}"),
        ("verifications", lambda r: f"{r.rows}"),
        ("verifications/s", lambda r: f"{r.rows / r.seconds:.0f}"),
        ("portal runs/s", lambda r: f"{r.runs / r.seconds:.1f}"),
        ("503s", lambda r: f"{r.http_503}"),
        ("history growth, MB", lambda r: f"{r.history_bytes / 1e6:.1f}"),
        ("history B per check", lambda r: f"{r.history_bytes / max(r.rows, 1):.0f}"),
        ("  after each bot's 1st", lambda r: f"{r.steady_bytes / max(r.steady_checks, 1):.0f}"),
        ("bot table growth, MB", lambda r: f"{r.bot_table_bytes / 1e6:.1f}"),
        ("WAL B per check", lambda r: f"{r.wal_bytes / max(r.rows, 1):.0f}"),
        ("database B per check", lambda r: f"{r.database_bytes / max(r.rows, 1):.0f}"),
        ("worker CPU ms per check", lambda r: f"{1000 * r.cpu['workers'] / max(r.rows, 1):.2f}"),
        ("CPU s, workers", lambda r: f"{r.cpu['workers']:.0f} ({100 * r.cpu['workers'] / r.seconds:.0f} %)"),
        ("CPU s, beat", lambda r: f"{r.cpu['beat']:.0f}"),
        ("CPU s, PostgreSQL", lambda r: f"{r.cpu['postgres']:.0f}"),
        ("CPU s, simulator", lambda r: f"{r.cpu['simulator']:.0f}"),
    ]
    print(f"{'':<26}" + "".join(f"{r.label:>18}" for r in results))
    for name, show in lines:
        print(f"{name:<26}" + "".join(f"{show(r):>18}" for r in results))


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = configure(args)
    ensure_database(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    trees = [(f"before ({args.before})", export_tree(args.before))] if args.before else []
    trees.append(("this tree" if args.before else "run", ROOT))
    sim, control = start_simulator(args, env, timeout=60)
    results = []
    try:
        for label, tree in trees:
            results.append(measure(label, args, env, tree, sim, control))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    report(args, results)


if __name__ == "__main__":
    main()
