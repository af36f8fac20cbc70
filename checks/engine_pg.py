"""PostgreSQL fast paths for recording one portal's results (checks/engine.py).

Per bot, Django's bulk_create and an ORM round trip of every state column cost more CPU
than the HTTP exchange that produced the result. On PostgreSQL the portal's verifications
go in with one INSERT from a single JSON document (encoded in C), and one set-based UPDATE
computes each bot's new state from the rows just written. The outcome is the same as the
portable path in checks/engine.py (the engine's tests run on SQLite and on PostgreSQL);
the UPDATE reads each bot's current row under its row lock, so a concurrent manual
`verify` cannot be lost.
"""

import json
import uuid
from datetime import datetime
from functools import cache

import psycopg
from django.db import connection
from psycopg.types.json import Jsonb

from checks.bitrix24.types import BotResult
from checks.models import Bot, Portal, Verification
from checks.status import BotState, Status


def remote_bot_id(fields: dict | None) -> int | None:
    """The bot's id as the portal reports it, when it is a sane one."""
    value = (fields or {}).get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def raw_cursor() -> psycopg.Cursor:
    # Django's cursors bind client-side, quoting every value in Python; a plain psycopg
    # cursor sends the values apart. Same connection, so the same transaction.
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


@cache
def insert_statement() -> tuple[list, str]:
    """The Verification fields and the INSERT for them; built once, from the model."""
    quote = connection.ops.quote_name
    bot = quote(Verification._meta.get_field("bot").column)
    fields = [f for f in Verification._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    record = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    sql = (
        f"INSERT INTO {quote(Verification._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model, values bound
        f"SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) AS r({record}) "
        f"WHERE EXISTS (SELECT 1 FROM {quote(Bot._meta.db_table)} AS b WHERE b.{quote(Bot._meta.pk.column)} = r.{bot}) "
        f"RETURNING {quote(Verification._meta.pk.column)}, {bot}"
    )
    return fields, sql


def insert_rows(rows: list[Verification]) -> list[Verification]:
    """One INSERT ... SELECT from a single JSON document; sets each row's pk.

    Rows of bots deleted meanwhile are left out (their foreign key would fail at commit);
    returns the rows written.
    """
    if not rows:
        return rows
    fields, sql = insert_statement()
    document = json.dumps([{f.column: getattr(row, f.attname) for f in fields} for row in rows], default=_isoformat)
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, [document])
        ids = {bot_id: pk for pk, bot_id in cursor.fetchall()}
    rows = [row for row in rows if row.bot_id in ids]
    for row in rows:
        row.pk = ids[row.bot_id]  # one row per bot in a run
        row._state.adding = False
        row._state.db = connection.alias
    return rows


def _isoformat(value):
    # Full microseconds: the slot is part of a unique key (DjangoJSONEncoder keeps milliseconds).
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


UPDATE_STATES = """
UPDATE {bot} AS b SET
    status = v.status,
    status_since = CASE WHEN b.status = v.status THEN b.status_since ELSE v.checked_at END,
    consecutive_failures = CASE WHEN v.status = %(ok)s THEN 0 ELSE b.consecutive_failures + 1 END,
    failure_streak = CASE WHEN v.status = %(ok)s THEN '{{}}'::jsonb
        ELSE COALESCE(b.failure_streak, '{{}}'::jsonb)
            || jsonb_build_object(v.status, COALESCE((b.failure_streak ->> v.status)::int, 0) + 1) END,
    next_check_at = COALESCE(%(next_at)s::timestamptz, b.next_check_at),
    last_checked_at = v.checked_at,
    last_ok_at = CASE WHEN v.status = %(ok)s THEN v.checked_at ELSE b.last_ok_at END,
    last_error = v.error_code,
    last_duration_ms = v.duration_ms,
    last_verification_id = v.id,
    last_ok_verification_id = CASE WHEN v.status = %(ok)s THEN v.id ELSE b.last_ok_verification_id END,
    count_message = CASE WHEN u.has_counters THEN v.count_message ELSE b.count_message END,
    count_command = CASE WHEN u.has_counters THEN v.count_command ELSE b.count_command END,
    count_chat = CASE WHEN u.has_counters THEN v.count_chat ELSE b.count_chat END,
    count_user = CASE WHEN u.has_counters THEN v.count_user ELSE b.count_user END,
    remote_id = COALESCE(u.remote_id, b.remote_id),
    fields = COALESCE(u.fields, b.fields),
    users = COALESCE(u.users, b.users)
FROM {verification} AS v
JOIN jsonb_to_recordset(%(per_row)s::jsonb)
    AS u(vid bigint, has_counters boolean, fields jsonb, users jsonb, remote_id bigint) ON u.vid = v.id
JOIN {bot} AS old ON old.id = v.bot_id
WHERE b.id = v.bot_id
RETURNING v.id, v.status, old.status
"""


def update_states(rows: list[Verification], results: dict[int, BotResult], next_at: datetime | None) -> list[int]:
    """Apply each row to its bot in one statement; returns the ids alerting must look at."""
    # One JSON document rather than five arrays: psycopg escapes array elements one by one
    # in Python, json.dumps does the whole list in C.
    per_row = []
    for row in rows:
        result = results[row.bot_id]
        per_row.append(
            {
                "vid": row.pk,
                "has_counters": bool(result.counters),
                "fields": result.fields or None,
                "users": (result.users or []) if result.fields else None,
                "remote_id": remote_bot_id(result.fields),
            }
        )
    sql = UPDATE_STATES.format(
        bot=connection.ops.quote_name(Bot._meta.db_table),
        verification=connection.ops.quote_name(Verification._meta.db_table),
    )
    params = {
        "ok": Status.OK.value,
        "next_at": next_at,
        "per_row": Jsonb(per_row),
    }
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, params)
        changed = cursor.fetchall()
    # `old` is the statement's snapshot of the bot: its status before this row.
    quiet = (Status.OK.value, BotState.PENDING.value)
    return [vid for vid, status, before in changed if not (status == Status.OK and before in quiet)]


RELEASE_CLAIM = """
UPDATE {portal} SET
    claim_token = NULL,
    claimed_until = NULL,
    next_check_at = COALESCE(
        (SELECT MIN(next_check_at) FROM {bot} WHERE portal_id = %(portal)s AND enabled), %(default_next)s),
    redirected_to = COALESCE(%(redirected_to)s, redirected_to)
WHERE id = %(portal)s AND claim_token = %(token)s
"""


def release_claim(portal_id: int, token, redirected_to: str | None, default_next: datetime) -> bool:
    """engine.release_claim with the portal's next due time (the earliest of its enabled bots)."""
    sql = RELEASE_CLAIM.format(
        portal=connection.ops.quote_name(Portal._meta.db_table), bot=connection.ops.quote_name(Bot._meta.db_table)
    )
    params = {"portal": portal_id, "token": token, "redirected_to": redirected_to, "default_next": default_next}
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount)


def extend_claim(portal_id: int, token, until: datetime) -> bool:
    """The lease runs until `until` if the claim is still held (and the row is locked)."""
    table = connection.ops.quote_name(Portal._meta.db_table)
    sql = f"UPDATE {table} SET claimed_until = %s WHERE id = %s AND claim_token = %s"  # noqa: S608 - name from the model
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, [until, portal_id, token])
        return bool(cursor.rowcount)


# The rows are locked in id order first (the lock the UPDATE takes anyway), so two ticks
# claiming overlapping portals queue behind each other instead of deadlocking.
CLAIM_PORTALS = """
WITH locked AS (SELECT id FROM {portal} WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR NO KEY UPDATE)
UPDATE {portal} AS p SET claim_token = c.token, claimed_until = %(until)s
FROM locked JOIN unnest(%(ids)s::bigint[], %(tokens)s::uuid[]) AS c(id, token) ON c.id = locked.id
WHERE p.id = locked.id AND NOT p.paused AND (p.claimed_until IS NULL OR p.claimed_until <= %(now)s)
RETURNING p.id, c.token
"""


def claim_portals(portal_ids: list[int], now: datetime, until: datetime) -> list[tuple[int, uuid.UUID]]:
    """engine.claim_portal for many portals in one statement: (id, token) of those won, by id.

    Each row is updated under its row lock and the WHERE re-checked on the newest row, so of
    concurrent claimers exactly one wins each portal, as with one UPDATE per portal.
    """
    sql = CLAIM_PORTALS.format(portal=connection.ops.quote_name(Portal._meta.db_table))
    params = {"ids": portal_ids, "tokens": [uuid.uuid4() for _ in portal_ids], "until": until, "now": now}
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(cursor.fetchall())
