"""One full sweep of N portals x M bots through real Celery workers on Redis and PostgreSQL.

    .venv/bin/python bench/sweep.py                      # 200 portals x 50 bots, 100 ms latency
    .venv/bin/python bench/sweep.py --portals 20 --bots 10 --skip-naive
    .venv/bin/python bench/sweep.py --skip-naive --repeat 1 --probed 0.1   # a tenth of the bots probed

Starts the Bitrix24 simulator in its own process (real cloud limits: leaky bucket 2/s, 50
deep, per portal; the given latency on every request), then, in the same run:

- floor, analytic: what the limits and latency alone allow (one batch of <= 50 commands,
  25 fetch-mode bots, per request, requests to one portal one after another, portals in
  parallel);
- floor, measured: the same client sending the fewest requests from as many threads as the
  workers have, with no Celery and no database: the HTTP part of a sweep on this machine;
  with the health calls (the bench's bots are in fetch mode, so each has an
  Event.get beside its Bot.get), and once more with them switched off in this process:
  what a sweep cost before the health checks (requests per bot, before and after);
- engine: beat's tick (`checks.engine.tasks.dispatch_due`, sent every 5 s as beat does) claims as
  many portals as the workers can run, each finished run claims the next due one, one task per
  portal, until every portal is verified;
- engine with probes (--probed FRACTION): the next sweep once more, with that share of each
  portal's bots given an answer probe (`answer` in the portal file) and their backends in the
  simulator answering after 1 s; the sweep's time is still that of the checks (a probe must not
  delay any bot's Bot.get), its requests those of the checks and of the probes, counted once
  every probe has ended (checks.models.AnswerProbe);
- naive: one Celery task and one HTTP request per bot (bench/naive.py), same client and recording.

The measured floor, the engine's first sweep of newly imported portals and its next sweep
of the same bots take turns --repeat times, and the median of each is reported beside the
individual runs: on a shared 2-core machine single runs vary by a tenth or more.
Prints wall time, bots per second, HTTP requests per bot, 503s received and rows written.
Uses its own database (default bw_engine_bench, created if missing) and Redis db, both emptied.
"""

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboard import ensure_database  # noqa: E402
from bench.simserver import WEBHOOK_CODE, portal_name, probed_codes  # noqa: E402

BATCH_SIZE = 50
COMMANDS_PER_BOT = 2  # Bot.get and, the bench's bots being in fetch mode, Event.get
BUCKET_RATE, BUCKET_BURST = 2.0, 50
TICK_SECONDS = 5.0  # beat's dispatch schedule (dashboard.celery)
PROBE_TEXT, PROBE_WITHIN = "/ping", 30


@dataclass
class Figures:
    name: str
    wall_s: float
    bots: int
    requests: int | None = None
    http_503: int | None = None
    rows: int | None = None

    def line(self) -> str:
        def show(value, fmt):
            return "-" if value is None else format(value, fmt)

        per_s = self.bots / self.wall_s if self.wall_s else float("inf")
        per_bot = self.requests / self.bots if self.requests is not None else None
        return (
            f"{self.name:<34} {self.wall_s:>8.2f} {per_s:>9.0f} {show(per_bot, '.3f'):>8}"
            f" {show(self.http_503, 'd'):>6} {show(self.rows, 'd'):>7}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=200)
    parser.add_argument("--bots", type=int, default=50, help="bots per portal")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker process")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_engine_bench")
    parser.add_argument(
        "--redis-url", default="", help="broker; default: a private redis-server started for this run on a free port"
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--probed",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of each portal's bots with an answer probe, for one more next sweep per round (e.g. 0.1)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of the measured floor and of the engine's next sweep"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per sweep")
    parser.add_argument(
        "--naive-limit", type=float, default=240.0, help="stop the naive sweep after this many seconds and project"
    )
    args = parser.parse_args()
    if not 0 <= args.probed <= 1:
        parser.error(f"--probed must be a share of the bots from 0 to 1, not {args.probed}")
    return args


def start_redis() -> tuple[subprocess.Popen, str]:
    import socket

    import redis

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("redis-server did not start")


def configure(args: argparse.Namespace) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "BOTWATCH_SECRET_KEYS": "bench-encryption-key-0001",
        "BOTWATCH_ALLOW_HTTP": "1",
        "BOTWATCH_ALLOW_PRIVATE_PORTALS": "1",  # the simulator listens on 127.0.0.1
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CELERY_BROKER_URL": args.redis_url,
        "BOTWATCH_VAR_DIR": "/tmp/botwatch-bench-var",
        # Per-request INFO lines would cost the workers more than the sweep itself.
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return {**os.environ, **env}


def start_simulator(args: argparse.Namespace, env: dict, timeout: float = 30):
    from simulator.control import SimulatorControl

    cmd = [sys.executable, "-m", "bench.simserver", "--portals", str(args.portals), "--bots", str(args.bots)]
    cmd += ["--probed", str(args.probed)]
    proc = subprocess.Popen([*cmd, "--latency-ms", str(args.latency_ms)], cwd=ROOT, env=env, stdout=subprocess.PIPE)
    base_url = proc.stdout.readline().decode().strip()
    if not base_url:
        raise SystemExit("the simulator did not start")
    return proc, SimulatorControl(base_url, timeout=timeout)


def populate(base_url: str, args: argparse.Namespace) -> None:
    from django.db import connection

    from checks.models import Bot, Portal

    with connection.cursor() as cursor:
        # Not the heartbeats: the running workers' capacity is what a tick claims by.
        cursor.execute("TRUNCATE checks_portal CASCADE")
    # BotWatch paces itself at the simulator's own limits here, so that the naive baseline
    # is held back by nothing but its design (a default portal paces at 1/s, burst 5).
    portals = Portal.objects.bulk_create(
        Portal(
            name=portal_name(p),
            url=f"{base_url}/{portal_name(p)}",
            webhook_user_id=1,
            webhook_code=WEBHOOK_CODE,
            pace_rate=BUCKET_RATE,
            pace_burst=BUCKET_BURST,
        )
        for p in range(args.portals)
    )
    Bot.objects.bulk_create(
        (Bot(portal=p, code=f"bot{b}", bot_token=f"token{b}") for p in portals for b in range(args.bots)),
        batch_size=2000,
    )
    # Statistics for the tables just refilled, as a database in use has them; otherwise
    # autovacuum's ANALYZE lands in the middle of a measured sweep, or plans are guessed.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checks_portal, checks_bot, checks_verification")


def reset_simulator(control, args: argparse.Namespace) -> None:
    for p in range(args.portals):
        control.reset_limits(portal_name(p))
    control.reset_stats()


def simulator_figures(control) -> tuple[int, int]:
    stats = control.stats()
    requests = sum(s["requests"] for s in stats.values())
    http_503 = sum(s["by_http_status"].get("503", 0) for s in stats.values())
    return requests, http_503


def empty_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def start_workers(args: argparse.Namespace, env: dict, include: str | None = None) -> list[subprocess.Popen]:
    from checks.models import Heartbeat

    Heartbeat.objects.all().delete()
    procs = []
    for i in range(args.workers):
        cmd = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "threads"]
        cmd += [
            "--concurrency",
            str(args.concurrency),
            "-n",
            f"bench{i}@%h",
            "--loglevel",
            os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
        ]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        cmd += ["--include", include] if include else []
        log = open(Path(env["BOTWATCH_VAR_DIR"]) / f"worker{i}.log", "ab")  # noqa: SIM115 - lives with the worker
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    deadline = time.monotonic() + 60
    while Heartbeat.objects.filter(name__startswith="worker:").count() < args.workers:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_workers(procs)
            raise SystemExit("the workers did not start")
        time.sleep(0.2)
    return procs


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def postgres_cpu_seconds() -> float:
    """CPU of the PostgreSQL processes on this machine (0 when the database runs elsewhere)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def checks_recorded() -> int:
    """Checks recorded so far: the portals' tallies, which each run adds to as it records (a code
    before them wrote a verification row per check: those are counted instead)."""
    from checks.history.tally import verification_totals
    from checks.models import Verification

    return sum(verification_totals().values()) or Verification.objects.count()


def wait_for_rows(expected: int, started: float, timeout: float, first: int) -> tuple[float, int]:
    """(seconds, checks recorded since `first` were) when every check is recorded, or when the time is up."""
    while True:
        rows = checks_recorded() - first
        elapsed = time.monotonic() - started
        if rows >= expected or elapsed > timeout:
            return elapsed, rows
        time.sleep(0.02)


def wait_for_portals(expected: int, started: float, since, timeout: float, tick=None) -> float:
    """Seconds until every portal's run is recorded (or the time is up); tick() every 5 s meanwhile.

    A tick claims no more portals than the workers can run; finished runs claim the next ones,
    and the ticks pick up whatever they leave, as beat's do.

    A run releases its portal's claim, moving the portal's next check on, in the statement
    that writes its rows; counting 200 portals costs the database far less than counting
    10,000 rows 50 times a second while the engine works.
    """
    from checks.models import Portal

    done = Portal.objects.filter(claim_token__isnull=True, next_check_at__gt=since)
    next_tick = started + TICK_SECONDS
    while True:
        elapsed = time.monotonic() - started
        if done.count() >= expected or elapsed > timeout:
            return elapsed
        if tick is not None and time.monotonic() >= next_tick:
            tick()
            next_tick += TICK_SECONDS
        time.sleep(0.02)


def floor_analytic(args: argparse.Namespace) -> Figures:
    # Each bench bot is in fetch mode: its Bot.get and Event.get share a batch (25 bots a batch).
    per_portal = math.ceil(args.bots * COMMANDS_PER_BOT / BATCH_SIZE)
    latency = args.latency_ms / 1000
    wall = per_portal * latency + max(0.0, (per_portal - BUCKET_BURST) / BUCKET_RATE)
    return Figures("floor, analytic (limits+latency)", wall, args.portals * args.bots, per_portal * args.portals, 0)


def floor_measured(args: argparse.Namespace, control) -> Figures:
    from checks.bitrix24.client import verify_bots
    from checks.models import Portal

    portals = list(Portal.objects.prefetch_related("bots"))
    reset_simulator(control, args)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers * args.concurrency) as pool:
        results = list(pool.map(lambda p: verify_bots(p, list(p.bots.all()), persist=False), portals))
    wall = time.monotonic() - started
    not_ok = sum(not r.ok for rs in results for r in rs)
    if not_ok:
        print(f"warning: {not_ok} results not ok in the floor run")
    requests, http_503 = simulator_figures(control)
    return Figures("floor, measured (HTTP only)", wall, args.portals * args.bots, requests, http_503)


@contextmanager
def without_health_calls():
    """The client as it was before the health checks: Bot.get only (patched in this process)."""
    from checks.bitrix24 import client

    saved = client.side_calls, client.catch_up_calls
    client.side_calls = client.catch_up_calls = lambda *args: []
    try:
        yield
    finally:
        client.side_calls, client.catch_up_calls = saved


def floor_before_health_checks(args: argparse.Namespace, control) -> Figures:
    with without_health_calls():
        figures = floor_measured(args, control)
    figures.name = "floor, Bot.get only (before)"
    return figures


def make_due_again() -> None:
    """Every bot due now, as it is one interval after its last check."""
    from django.utils import timezone

    from checks.models import Bot, Portal

    now = timezone.now()
    Bot.objects.update(next_check_at=now)
    Portal.objects.update(next_check_at=now)


def probe_config() -> dict:
    """A probed bot's `answer`, as the portal file's schema cleans it: `every` the bench's interval
    (BotWatch's default, the bench's portals setting none) or the least allowed."""
    from django.conf import settings

    from checks.portal_file.expectations import MIN_EVERY, validate_answer

    every = max(settings.BOTWATCH_CHECK_INTERVAL, MIN_EVERY)
    answer, problems = validate_answer({"text": PROBE_TEXT, "within": PROBE_WITHIN, "every": every}, every)
    if problems:
        raise SystemExit(f"the bench's answer probe is not valid: {problems}")
    return answer


def set_probes(args: argparse.Namespace, on: bool) -> int:
    """The --probed share of each portal's bots with their answer probe due now (on) or none; returns their count."""
    from checks.models import AnswerProbe, Bot

    bots = Bot.objects.filter(code__in=probed_codes(args.bots, args.probed))
    AnswerProbe.objects.all().delete()
    return bots.update(answer=probe_config() if on else {}, answer_next_at=None, answer_problem={})


def wait_for_probes(expected: int, timeout: float) -> float:
    """Seconds until `expected` probes have ended (or the time is up)."""
    from checks.models import AnswerProbe

    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        ended = AnswerProbe.objects.exclude(outcome=AnswerProbe.Outcome.PENDING).count()
        if ended >= expected or elapsed > timeout:
            return elapsed
        time.sleep(0.2)


@dataclass
class Probes:
    """A sweep's probes as checks.models.AnswerProbe recorded them."""

    expected: int
    outcomes: dict
    answer_ms: list[int]
    reads: int
    ended_s: float  # after the sweep's start
    methods: dict  # the simulator's count of the probes' requests, by method

    def line(self) -> str:
        ms = sorted(self.answer_ms)

        def pick(q: float) -> str:
            return str(ms[min(len(ms) - 1, int(q * len(ms)))]) if ms else "-"

        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        calls = ", ".join(f"{k} {v}" for k, v in sorted(self.methods.items()))
        total = sum(self.outcomes.values())
        return (
            f"probes: {total} of {self.expected} ({outcomes}); answer ms p50 {pick(0.5)}, p95 {pick(0.95)},"
            f" max {ms[-1] if ms else '-'}; {self.reads} reads; all ended {self.ended_s:.1f} s after the"
            f" sweep began; requests: {calls}"
        )


def probe_figures(expected: int, started: float, control) -> Probes:
    from django.db.models import Count, Sum

    from checks.bitrix24 import dialogs
    from checks.models import AnswerProbe

    ended_s = time.monotonic() - started
    outcomes = dict(AnswerProbe.objects.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n"))
    answer_ms = list(AnswerProbe.objects.exclude(answer_ms=None).values_list("answer_ms", flat=True))
    reads = AnswerProbe.objects.aggregate(n=Sum("reads"))["n"] or 0
    methods = {}
    for stats in control.stats().values():
        for method, n in stats.get("methods", {}).items():
            if method.lower() in (dialogs.MESSAGE_ADD.lower(), dialogs.DIALOG_READ.lower()):
                methods[method] = methods.get(method, 0) + n
    return Probes(expected, outcomes, answer_ms, reads, ended_s, methods)


def engine_sweep(
    args: argparse.Namespace, control, workers: list[subprocess.Popen], *, first: bool, probed: bool = False
) -> tuple[Figures, Probes | None]:
    """One sweep through the running workers: of newly imported portals, or of the same ones again
    (probed: with the --probed share of the bots probed, its requests counted once every probe ended)."""
    from django.utils import timezone

    from checks.engine.tasks import dispatch_due

    if first:
        populate(control.base_url, args)
    else:
        make_due_again()
    expected = set_probes(args, probed) if not first else 0
    empty_broker(args.redis_url)
    reset_simulator(control, args)
    since = timezone.now()
    recorded_before = checks_recorded()
    started = time.monotonic()
    dispatch_due.delay()  # what beat sends every 5 s
    cpu_before, db_before = sum(cpu_seconds(p.pid) for p in workers), postgres_cpu_seconds()
    wall = wait_for_portals(args.portals, started, since, args.timeout, tick=dispatch_due.delay)
    cpu = sum(cpu_seconds(p.pid) for p in workers) - cpu_before
    db_cpu = postgres_cpu_seconds() - db_before
    rows = checks_recorded() - recorded_before
    if rows < args.portals * args.bots:
        raise SystemExit(f"the engine's sweep did not finish in {args.timeout:.0f}s: {rows} rows")
    probes = None
    if probed:
        wait_for_probes(expected, PROBE_WITHIN + args.timeout)
        probes = probe_figures(expected, started, control)
    requests, http_503 = simulator_figures(control)
    kind = "first sweep" if first else f"next, {args.probed:.0%} probed" if probed else "next sweeps"
    print(f"engine, {kind}: {wall:.2f} s; CPU: worker processes {cpu:.1f} s, PostgreSQL {db_cpu:.1f} s")
    if probes is not None:
        print(probes.line())
    name = f"engine, {kind} ({args.workers}x{args.concurrency})"
    return Figures(name, wall, args.portals * args.bots, requests, http_503, rows), probes


def floor_and_engine(args: argparse.Namespace, env: dict, control) -> tuple[list, list, list, list, list]:
    """--repeat rounds of: the floor, the engine's first sweep of new portals, its next sweep
    (and with --probed, its next sweep with the probes on: the last list, of (Figures, Probes)).

    A first sweep verifies newly imported portals: every bot's state is new, every token is
    decrypted for the first time (and in the first round the workers have just started).
    Every sweep after it (one interval later; in production every few minutes for days)
    verifies the same bots again. The three take turns so that a drifting machine load hits
    them alike; the floor goes first, so that the simulator is not cold for the engine.
    """
    populate(control.base_url, args)
    empty_broker(args.redis_url)
    workers = start_workers(args, env)
    floors, firsts, nexts, befores, probed = [], [], [], [], []
    try:
        for _ in range(args.repeat):
            befores.append(floor_before_health_checks(args, control))
            floors.append(floor_measured(args, control))
            print(f"floor, measured: {floors[-1].wall_s:.2f} s (Bot.get only: {befores[-1].wall_s:.2f} s)")
            firsts.append(engine_sweep(args, control, workers, first=True)[0])
            nexts.append(engine_sweep(args, control, workers, first=False)[0])
            if args.probed:
                probed.append(engine_sweep(args, control, workers, first=False, probed=True))
    finally:
        stop_workers(workers)
    return floors, firsts, nexts, befores, probed


def median(runs: list[Figures]) -> Figures:
    """The run with the median wall time; prints every run's time."""
    chosen = sorted(runs, key=lambda f: f.wall_s)[len(runs) // 2]  # the slower middle of an even count
    if len(runs) > 1:
        times = ", ".join(f"{f.wall_s:.2f}" for f in runs)
        print(f"{chosen.name}: median of {len(runs)} runs ({times} s)")
    return chosen


def run_naive(args: argparse.Namespace, env: dict, control) -> Figures:
    from checks.models import Bot
    from dashboard.celery import app

    populate(control.base_url, args)
    empty_broker(args.redis_url)
    workers = start_workers(args, env, include="bench.naive")
    first = checks_recorded()
    try:
        reset_simulator(control, args)
        started = time.monotonic()
        with app.producer_or_acquire() as producer:
            for bot_id in Bot.objects.values_list("pk", flat=True):
                app.send_task("bench.naive.verify_bot", args=[bot_id], producer=producer)
        wall, rows = wait_for_rows(args.portals * args.bots, started, args.naive_limit, first)
    finally:
        stop_workers(workers)
    requests, http_503 = simulator_figures(control)
    rows = checks_recorded() - first
    name = "naive (1 task, 1 request per bot)"
    if rows < args.portals * args.bots:
        # Stopped early: the full sweep's time at the rate it kept, stated as projected.
        name, wall = "naive, projected from " + f"{rows} rows", wall * args.portals * args.bots / max(rows, 1)
        requests = round(requests * args.portals * args.bots / max(rows, 1))
    return Figures(name, wall, args.portals * args.bots, requests, http_503, rows)


def main() -> None:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so that the finally blocks stop every process started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    redis_proc = None
    if not args.redis_url:
        redis_proc, args.redis_url = start_redis()
    try:
        env = configure(args)
        ensure_database(args.database_url)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        sim, control = start_simulator(args, env)
        try:
            floors, firsts, nexts, befores, probed = floor_and_engine(args, env, control)
            figures = [floor_analytic(args), median(floors), median(firsts), median(nexts), median(befores)]
            if not args.skip_naive:
                figures.append(run_naive(args, env, control))
            with_probes = None
            if probed:
                chosen = median([f for f, _ in probed])
                with_probes = next((f, p) for f, p in probed if f is chosen)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    report(args, figures, with_probes)


def report(
    args: argparse.Namespace,
    figures: list[Figures],
    with_probes: tuple[Figures, Probes] | None = None,
) -> None:
    cpus = os.cpu_count()
    print(f"\n{args.portals} portals x {args.bots} bots, {args.latency_ms:.0f} ms latency, {cpus} CPUs")
    print(f"{'run':<34} {'wall s':>8} {'bots/s':>9} {'req/bot':>8} {'503s':>6} {'rows':>7}")
    for f in figures + ([with_probes[0]] if with_probes else []):
        print(f.line())
    analytic, floor, first, engine = figures[:4]
    ratio, first_ratio = engine.wall_s / floor.wall_s, first.wall_s / floor.wall_s
    print(f"engine vs measured floor: {ratio:.2f}x (first sweep {first_ratio:.2f}x)")
    print(f"engine vs analytic floor: {engine.wall_s / analytic.wall_s:.2f}x")
    before = figures[4]
    if before.requests and floor.requests:
        print(
            f"health checks: {before.requests / before.bots:.3f} -> {floor.requests / floor.bots:.3f} "
            f"requests per bot; floor {before.wall_s:.2f} s -> {floor.wall_s:.2f} s"
        )
    if len(figures) > 5:
        naive = figures[5]
        speedup, first_speedup = naive.wall_s / engine.wall_s, naive.wall_s / first.wall_s
        print(f"engine speed-up over naive: {speedup:.1f}x (first sweep {first_speedup:.1f}x)")
    if with_probes:
        report_probes(args, floor, engine, *with_probes)


def report_probes(args: argparse.Namespace, floor: Figures, engine: Figures, probed: Figures, probes: Probes) -> None:
    """The probes' cost beside the same sweep without them: requests per check, time against the floor."""

    def per_check(f: Figures) -> str:
        return format(f.requests / f.rows, ".3f") if f.requests is not None and f.rows else "-"

    print(f"answer probes on {args.probed:.0%} of the bots ({probes.expected}):")
    print(f"  requests per check: {per_check(engine)} without probes, {per_check(probed)} with probes")
    print(
        f"  engine vs measured floor: {engine.wall_s / floor.wall_s:.2f}x without probes,"
        f" {probed.wall_s / floor.wall_s:.2f}x with probes"
    )
    print(
        f"  every check recorded (Bot.get of every bot): {engine.wall_s:.2f} s without probes,"
        f" {probed.wall_s:.2f} s with probes ({probed.wall_s / engine.wall_s - 1:+.0%})"
    )
    print(f"  {probes.line()}")


if __name__ == "__main__":
    main()
