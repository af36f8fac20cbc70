"""The raw verification table's daily partitions on PostgreSQL (declarative partitioning by `slot`).

checks_verification is partitioned by range of `slot`, one partition per UTC day named
checks_verification_pYYYYMMDD, plus a default partition for slots outside them (a bot whose
schedule lay far in the past). Retention drops whole partitions: no row-by-row deletes, no
bloat, no vacuum debt. Partitions are created a few days ahead by the hourly history job and by
the migration; creating one that the default partition already has rows for is skipped (those
rows stay in the default partition, which retention empties by plain deletes).
"""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import DatabaseError, connection, transaction

from checks.models import Verification

log = logging.getLogger(__name__)

AHEAD_DAYS = 3
# DROP TABLE of a partition locks the parent briefly; the workers' inserts must never queue
# behind a retention job that waits for a long query: give up and try at the next run instead.
LOCK_TIMEOUT = "5s"


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def table() -> str:
    return Verification._meta.db_table


def partition_name(day: date) -> str:
    return f"{table()}_p{day:%Y%m%d}"


def default_name() -> str:
    return f"{table()}_default"


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def create_sql(day: date) -> str:
    start, end = day_bounds_utc(day)
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF "{table()}" '
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def partitions() -> dict[date, str]:
    """The day partitions that exist: {day: name}."""
    prefix = f"{table()}_p"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table()],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        if name.startswith(prefix):
            try:
                found[datetime.strptime(name[len(prefix) :], "%Y%m%d").date()] = name
            except ValueError:
                continue
    return found


def ensure_partitions(now: datetime, first: date | None = None) -> list[str]:
    """Create the day partitions from `first` (default: today, UTC) to AHEAD_DAYS ahead; returns new ones."""
    today = now.astimezone(UTC).date()
    day = first or today
    existing = partitions()
    created = []
    while day <= today + timedelta(days=AHEAD_DAYS):
        if day not in existing:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(create_sql(day))
                created.append(partition_name(day))
            except DatabaseError as exc:
                # The default partition holds rows of that day: they stay there.
                log.warning("history: partition for %s not created: %s", day, exc)
        day += timedelta(days=1)
    return created


def expired(cutoff: datetime) -> list[tuple[date, str]]:
    """Day partitions whose every slot is before `cutoff`, oldest first."""
    return sorted((day, name) for day, name in partitions().items() if day_bounds_utc(day)[1] <= cutoff)


def drop(name: str) -> bool:
    """Drop one partition; False when it could not get its lock in time (retried next run)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f'DROP TABLE "{name}"')
    except DatabaseError as exc:
        log.warning("history: partition %s not dropped yet: %s", name, exc)
        return False
    return True
