"""`manage.py import_portals` of N portals x M bots on PostgreSQL: a fresh import, then a re-import.

    .venv/bin/python bench/import.py                         # 2,000 portals x 50 bots
    .venv/bin/python bench/import.py --baseline main         # main's importer first, then this tree's
    .venv/bin/python bench/import.py --portals 200 --bots 50

Writes a portal file (compact JSON: 100,000 bots in YAML pass the 200,000-value bound of
checks/portal_file/bounded.py) of webhook portals, each bot with a code and a token, every tenth
bot also with an id, an `expect` and a `backlog_minutes`. Then, on an emptied database
(default bw_import_bench, created if missing), runs the command twice through
`call_command`, as `manage.py` would: the first import creates every portal and bot, the
second one of the same file updates them all (the path of a routine re-import), a third
one gives every bot a new token (every bot row changes). Prints
seconds and bots per second for each; the target (issue 15) is 100,000 bots in <= 120 s.

--baseline REF exports that commit of this repository (`git archive`, into a temporary
folder) and measures its importer first, in a subprocess, on the same database and file, so
that both figures come from one run on the same machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 120


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_import_bench")
    parser.add_argument("--portals", type=int, default=2000)
    parser.add_argument("--bots", type=int, default=50, help="bots per portal")
    parser.add_argument("--baseline", metavar="REF", help="measure the importer of this commit first")
    parser.add_argument("--code-root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # the baseline's export
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)  # the baseline's run reuses the files
    parser.add_argument("--rotated-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="this tree", help=argparse.SUPPRESS)
    return parser.parse_args()


def portal_file(portals: int, bots: int, token: str) -> dict:
    entries = []
    for p in range(portals):
        entry = {
            "name": f"portal-{p:04d}",
            "url": f"https://portal-{p:04d}.bitrix24.example",
            "webhook": {"user_id": 1, "code": f"webhook-code-{p:04d}"},
            "bots": [],
        }
        for b in range(bots):
            bot = {"code": f"bot_{b:02d}", "bot_token": f"{token}{p:04d}{b:02d}"}
            if b % 10 == 0:
                bot.update(id=p * 1000 + b + 1, expect={"eventMode": "fetch"}, backlog_minutes=30)
            entry["bots"].append(bot)
        entries.append(entry)
    return {"portals": entries}


def write_file(args: argparse.Namespace, token: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="botwatch-import-", suffix=".json")
    os.close(fd)
    data = portal_file(args.portals, args.bots, token)
    Path(name).write_text(json.dumps(data, separators=(",", ":")))
    return Path(name)


def setup_django(url: str, code_root: Path) -> None:
    if not url.startswith("postgres"):
        sys.exit("bench/import.py measures PostgreSQL: give a postgres:// --database-url")
    sys.path.insert(0, str(code_root))
    os.chdir(code_root)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def empty_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE checks_portal, checks_auditlog RESTART IDENTITY CASCADE")


def timed_import(path: Path) -> tuple[float, str]:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command("import_portals", str(path), stdout=out)
    return time.perf_counter() - started, out.getvalue().strip()


def measure(args: argparse.Namespace, label: str) -> None:
    setup_django(args.database_url, args.code_root)
    empty_database()
    from checks.models import Bot

    total = args.portals * args.bots
    runs = [("fresh import", args.file), ("re-import", args.file), ("new tokens", args.rotated_file)]
    for run, path in runs:
        seconds, summary = timed_import(path)
        verdict = f"<= {TARGET_S} s: {'met' if seconds <= TARGET_S else 'MISSED'}" if total >= 100_000 else ""
        print(f"{label:<10} {run:<13} {seconds:>8.1f} s {total / seconds:>9.0f} bots/s  {verdict}", flush=True)
        print(f"{'':<10} {summary}", flush=True)
    assert Bot.objects.count() == total, Bot.objects.count()


def run_baseline(args: argparse.Namespace, ref: str) -> None:
    with tempfile.TemporaryDirectory(prefix="botwatch-import-baseline-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        script = Path(__file__).resolve()
        command = [sys.executable, str(script), "--database-url", args.database_url]
        command += ["--portals", str(args.portals), "--bots", str(args.bots)]
        command += ["--code-root", folder, "--file", str(args.file), "--rotated-file", str(args.rotated_file)]
        command += ["--label", ref]
        subprocess.run(command, check=True)


def main() -> None:
    args = parse_args()
    # Appended, not put first: the importer measured comes from setup_django's code_root.
    sys.path.append(str(ROOT))
    from bench.dashboard import ensure_database

    ensure_database(args.database_url)
    owned = args.file is None
    if owned:
        args.file, args.rotated_file = write_file(args, "t"), write_file(args, "r")
        size = args.file.stat().st_size / (1024 * 1024)
        print(f"{args.portals} portals x {args.bots} bots = {args.portals * args.bots} bots; file {size:.1f} MB")
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    try:
        if args.baseline:
            run_baseline(args, args.baseline)
        measure(args, args.label)
    finally:
        if owned:
            args.file.unlink()
            args.rotated_file.unlink()


if __name__ == "__main__":
    main()
