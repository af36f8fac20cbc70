"""The raw history tables' daily partitions (PostgreSQL's declarative partitioning by range).

checks_verification is partitioned by `slot` and checks_checkhour by `hour`, one partition per
UTC day named <table>_pYYYYMMDD, plus a default partition for keys outside them (a bot whose
schedule lay far in the past). Retention drops whole partitions: no row-by-row deletes, no
bloat, no vacuum debt. Partitions are created a few days ahead by the hourly history job and by
the migrations; creating one that the default partition already has rows for is skipped (those
rows stay in the default partition, which retention empties by plain deletes).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import DatabaseError, connection, models, transaction

from checks.models import CheckHour, Verification

log = logging.getLogger(__name__)

AHEAD_DAYS = 3
# DROP TABLE of a partition locks the parent briefly; the workers' inserts must never queue
# behind a retention job that waits for a long query: give up and try at the next run instead.
LOCK_TIMEOUT = "5s"


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Partitioned:
    """One of the raw tables, partitioned by day on `key`."""

    model: type[models.Model]
    key: str

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def partition_name(self, day: date) -> str:
        return f"{self.table}_p{day:%Y%m%d}"

    def default_name(self) -> str:
        return f"{self.table}_default"

    def create_sql(self, day: date) -> str:
        start, end = day_bounds_utc(day)
        return (
            f'CREATE TABLE IF NOT EXISTS "{self.partition_name(day)}" PARTITION OF "{self.table}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )

    def partitions(self) -> dict[date, str]:
        """The day partitions that exist: {day: name}."""
        prefix = f"{self.table}_p"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass",
                [self.table],
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

    def ensure(self, now: datetime, first: date | None = None) -> list[str]:
        """Create the day partitions from `first` (default: today, UTC) to AHEAD_DAYS ahead; returns new ones."""
        today = now.astimezone(UTC).date()
        day = first or today
        existing = self.partitions()
        created = []
        while day <= today + timedelta(days=AHEAD_DAYS):
            if day not in existing:
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(self.create_sql(day))
                    created.append(self.partition_name(day))
                except DatabaseError as exc:
                    # The default partition holds rows of that day: they stay there.
                    log.warning("history: partition for %s not created: %s", day, exc)
            day += timedelta(days=1)
        return created

    def expired(self, cutoff: datetime) -> list[tuple[date, str]]:
        """Day partitions whose every key is before `cutoff`, oldest first."""
        return sorted((day, name) for day, name in self.partitions().items() if day_bounds_utc(day)[1] <= cutoff)

    def leaving_before(self, cutoff: datetime) -> datetime:
        """The rows with keys before this go now: a day partition goes whole once its last key is
        past `cutoff` (the rows of the partition `cutoff` falls in wait for it)."""
        staying = [day for day in self.partitions() if day_bounds_utc(day)[1] > cutoff]
        return min(cutoff, day_bounds_utc(min(staying))[0]) if staying else cutoff


VERIFICATIONS = Partitioned(Verification, "slot")
HOURS = Partitioned(CheckHour, "hour")
TABLES = (VERIFICATIONS, HOURS)


def ensure_partitions(now: datetime, first: date | None = None) -> list[str]:
    """Every raw table's day partitions from `first` to AHEAD_DAYS ahead; returns the new ones."""
    return [name for table in TABLES for name in table.ensure(now, first)]


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
