"""The engine's statements: claiming and recording.

Per bot, Django's bulk_create and an ORM round trip of every state column cost more CPU
than the HTTP exchange that produced the result, and each statement of a run is a round
trip that a busy worker thread waits for. A run is therefore recorded by one statement,
fed one JSON document (encoded in C): it releases the claim, inserts the verifications and
computes each bot's new state from the rows just inserted. The UPDATE reads each bot's
current row under its row lock, so a concurrent manual `verify` cannot be lost.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from django.db import connection

from checks.bitrix24.types import BotResult
from checks.db import raw_cursor
from checks.engine.portal_state import needs_portal_alerting
from checks.health.bot import config_of
from checks.history import checklog
from checks.models import Bot, CheckHour, CheckTally, Portal, Verification
from checks.status import BotState, ResponseFormat, Status, needs_alerting


def remote_bot_id(fields: dict | None) -> int | None:
    """The bot's id as the portal reports it, when it is a sane one."""
    value = (fields or {}).get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# One statement records a run: it releases the claim (proving it is still held) and writes the
# portal's own state (its probe; checks.engine.portal_state), locks the bots that still exist,
# writes whole the verifications that have something to say (the run marked them; a check that
# alerting must see, because the bot was failing before, is written whole too), moves each
# bot's finished hour of packed checks into a CheckHour row, appends this check to the bot's
# open hour and moves its state on, and adds the run's checks to the portal's tally. A manual
# run (no token) holds no claim: the portal row keeps its claim and schedule, and takes the
# state. In autocommit that is one round trip and one transaction; the CTEs run in that order
# (each feeds the next), so the portal row is locked before the bots', as in a claim's other
# statements. `lk` reads each bot's current row under its lock (a concurrent manual run
# committed meanwhile is seen), and every later step goes by what it read.
RECORD = """
WITH src AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS r({record}, x_has_counters boolean, x_users jsonb, x_remote_id bigint,
            x_extended boolean, x_baseline jsonb, x_commands jsonb, x_fields jsonb,
            x_detailed boolean, x_entry text, x_hour timestamptz)
),
claim AS (
    UPDATE {portal} AS p SET
        claim_token = CASE WHEN %(token)s::uuid IS NULL THEN p.claim_token END,
        claimed_until = CASE WHEN %(token)s::uuid IS NULL THEN p.claimed_until END,
        next_check_at = CASE WHEN %(token)s::uuid IS NULL THEN p.next_check_at ELSE LEAST(%(next_at)s::timestamptz, (
            SELECT MIN(next_check_at) FROM {bot}
            WHERE portal_id = %(portal)s AND enabled AND NOT id = ANY(%(bot_ids)s::bigint[]))) END,
        redirected_to = COALESCE(%(redirected_to)s, p.redirected_to),
        batch_supported = COALESCE(p.batch_supported, %(batch_supported)s::boolean),
        status = COALESCE(ps.status, p.status),
        status_since = CASE WHEN ps.status IS NULL THEN p.status_since
            WHEN ps.status = p.status THEN COALESCE(p.status_since, ps.checked_at) ELSE ps.checked_at END,
        consecutive_failures = CASE WHEN ps.status IS NULL THEN p.consecutive_failures
            WHEN ps.status = %(ok)s THEN 0 ELSE p.consecutive_failures + 1 END,
        last_checked_at = COALESCE(ps.checked_at, p.last_checked_at),
        last_error = COALESCE(ps.last_error, p.last_error),
        last_error_description = COALESCE(ps.last_error_description, p.last_error_description),
        last_http_status = CASE WHEN ps.status IS NULL THEN p.last_http_status ELSE ps.last_http_status END,
        problems = COALESCE(ps.problems, p.problems),
        app_info_checked_at = CASE WHEN ps.app THEN ps.checked_at ELSE p.app_info_checked_at END,
        plan = CASE WHEN ps.app AND ps.plan <> '' THEN ps.plan ELSE p.plan END,
        app_status = CASE WHEN ps.app THEN ps.app_status ELSE p.app_status END,
        app_installed = CASE WHEN ps.app THEN ps.app_installed ELSE p.app_installed END,
        app_payment_expired = CASE WHEN ps.app THEN ps.app_payment_expired ELSE p.app_payment_expired END,
        app_paid_until = CASE WHEN ps.app THEN ps.app_paid_until ELSE p.app_paid_until END
    FROM jsonb_to_record(%(portal_state)s::jsonb) AS ps(
            status text, checked_at timestamptz, last_error text, last_error_description text,
            last_http_status integer, problems jsonb, app boolean, plan text, app_status text,
            app_installed boolean, app_payment_expired boolean, app_paid_until date),
        {portal} AS old
    WHERE p.id = %(portal)s AND old.id = p.id AND (%(token)s::uuid IS NULL OR p.claim_token = %(token)s::uuid)
    RETURNING p.id, old.status AS before
),
lk AS (
    SELECT b.id, b.status, b.hour_checks, b.hour_start FROM {bot} AS b
    WHERE b.id = ANY(%(bot_ids)s::bigint[]) AND (%(token)s::uuid IS NULL OR EXISTS (SELECT 1 FROM claim))
    ORDER BY b.id FOR NO KEY UPDATE
),
ins AS (
    INSERT INTO {verification} ({columns})
    SELECT {src_columns} FROM src JOIN lk ON lk.id = src.bot_id
    WHERE src.x_detailed OR NOT (src.status = %(ok)s AND lk.status IN (%(ok)s, %(pending)s))
    RETURNING id, bot_id
),
closed AS (
    INSERT INTO {hour} AS h (bot_id, hour, data)
    SELECT lk.id, lk.hour_start, lk.hour_checks FROM lk JOIN src ON src.bot_id = lk.id
    WHERE lk.hour_start IS NOT NULL AND octet_length(lk.hour_checks) > 0
        AND (lk.hour_start <> src.x_hour OR octet_length(lk.hour_checks) >= %(open_max)s)
    ON CONFLICT (bot_id, hour) DO UPDATE SET data = h.data || EXCLUDED.data
),
upd AS (
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
        last_verification_id = COALESCE(ins.id, b.last_verification_id),
        last_ok_verification_id = CASE WHEN v.status = %(ok)s AND ins.id IS NOT NULL THEN ins.id
            ELSE b.last_ok_verification_id END,
        count_message = CASE WHEN v.x_has_counters THEN v.count_message ELSE b.count_message END,
        count_command = CASE WHEN v.x_has_counters THEN v.count_command ELSE b.count_command END,
        count_chat = CASE WHEN v.x_has_counters THEN v.count_chat ELSE b.count_chat END,
        count_user = CASE WHEN v.x_has_counters THEN v.count_user ELSE b.count_user END,
        remote_id = COALESCE(v.x_remote_id, b.remote_id),
        fields = COALESCE(v.x_fields, b.fields),
        users = COALESCE(v.x_users, b.users),
        problems = v.problems,
        event_backlog_s = v.event_backlog_s,
        pinned_id = CASE WHEN v.x_extended THEN COALESCE(b.pinned_id, v.x_remote_id) ELSE b.pinned_id END,
        baseline = COALESCE(v.x_baseline, b.baseline),
        commands_seen = COALESCE(v.x_commands, b.commands_seen),
        commands_checked_at = CASE WHEN v.x_commands IS NULL THEN b.commands_checked_at ELSE v.checked_at END,
        hour_checks = CASE WHEN lk.hour_start = v.x_hour AND octet_length(lk.hour_checks) < %(open_max)s
            THEN lk.hour_checks || decode(v.x_entry, 'hex') ELSE decode(v.x_entry, 'hex') END,
        hour_start = v.x_hour
    FROM src AS v
    JOIN lk ON lk.id = v.bot_id
    LEFT JOIN ins ON ins.bot_id = v.bot_id
    WHERE b.id = v.bot_id
    RETURNING ins.id AS vid, v.bot_id, v.status, lk.status AS before
),
tally AS (
    INSERT INTO {tally} AS t (portal_id, counts, updated_at)
    SELECT %(portal)s, jsonb_object_agg(c.status, c.n), %(checked_at)s
    FROM (SELECT status, count(*) AS n FROM upd GROUP BY status) AS c
    HAVING count(*) > 0
    ON CONFLICT (portal_id) DO UPDATE SET
        counts = (SELECT jsonb_object_agg(k, COALESCE((t.counts ->> k)::bigint, 0)
                      + COALESCE((EXCLUDED.counts ->> k)::bigint, 0))
                  FROM jsonb_object_keys(t.counts || EXCLUDED.counts) AS k),
        updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)
)
SELECT (SELECT count(*) FROM claim), (SELECT before FROM claim), upd.* FROM (SELECT 1) AS one LEFT JOIN upd ON true
"""


@cache
def record_statement() -> tuple[list, str]:
    """The Verification fields and the recording statement for them; built once, from the model."""
    quote = connection.ops.quote_name
    fields = [f for f in Verification._meta.concrete_fields if not f.primary_key]
    sql = RECORD.format(
        columns=", ".join(quote(f.column) for f in fields),
        src_columns=", ".join(f"src.{quote(f.column)}" for f in fields),
        record=", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields),
        portal=quote(Portal._meta.db_table),
        bot=quote(Bot._meta.db_table),
        verification=quote(Verification._meta.db_table),
        hour=quote(CheckHour._meta.db_table),
        tally=quote(CheckTally._meta.db_table),
    )
    return fields, sql


@dataclass
class Recorded:
    held: bool  # False: a scheduled run whose claim is no longer held wrote nothing
    # Those recorded (bots deleted meanwhile are left out); pk set on those written whole.
    rows: list[Verification]
    for_alerting: list[int]  # ids of the rows alerting must look at
    portal_alerting: bool = False  # alerting must look at the portal's new state


def record(
    rows: list[Verification],
    results: dict[int, BotResult],
    entries: dict[int, checklog.PackedCheck],
    *,
    portal_id: int,
    token: uuid.UUID | None,
    next_at: datetime | None,
    redirected_to: str | None,
    batch_supported: bool | None = None,
    portal_state: dict | None = None,
) -> Recorded:
    """Record one run's checks and bot states, and release its claim (token given), in one statement.

    `entries`: each bot's packed check (checks.engine.recording.pack_check). Releasing the claim
    also notes the portal's new address and, where still unknown, whether it takes imbot calls
    in batch (the client left that to this statement).
    """
    fields, sql = record_statement()
    document = []
    for row in rows:
        result = results[row.bot_id]
        entry = {f.column: getattr(row, f.attname) for f in fields}
        entry["x_has_counters"] = bool(result.counters)
        entry["x_users"] = (result.users or []) if result.fields else None
        entry["x_remote_id"] = remote_bot_id(result.fields)
        extended = result.response_format == ResponseFormat.EXTENDED
        entry["x_extended"] = extended
        entry["x_baseline"] = config_of(result.fields) if extended else None
        entry["x_commands"] = result.command_names
        entry["x_fields"] = result.fields or None  # the bot's answer lives on the bot, not in history
        packed = entries[row.bot_id]
        entry["x_detailed"] = packed.detailed
        entry["x_entry"] = packed.entry.hex()
        entry["x_hour"] = packed.hour
        document.append(entry)
    params = {
        # json.dumps encodes the whole run in C; psycopg would adapt values one by one in Python.
        "rows": json.dumps(document, default=_isoformat),
        "bot_ids": [row.bot_id for row in rows],
        "portal": portal_id,
        "token": token,
        "next_at": next_at,
        "redirected_to": redirected_to,
        "batch_supported": batch_supported,
        "portal_state": json.dumps(portal_state or {"status": None}, default=_isoformat),
        "ok": Status.OK.value,
        "pending": BotState.PENDING.value,
        "open_max": checklog.OPEN_BYTES,
        "checked_at": rows[0].checked_at if rows else None,
    }
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, params)
        answer = cursor.fetchall()
    held = token is None or answer[0][0] > 0
    document = portal_state or {"status": None}
    portal_alerting = bool(
        answer[0][0] and document["status"] and needs_portal_alerting(document["status"], answer[0][1], document)
    )
    recorded = {bot_id: (vid, status, before) for _, _, vid, bot_id, status, before in answer if bot_id is not None}
    kept = []
    for row in rows:
        if row.bot_id in recorded:
            kept.append(row)
            vid = recorded[row.bot_id][0]  # one row per bot in a run
            if vid is not None:
                row.pk = vid
                row._state.adding = False
                row._state.db = connection.alias
    # `before` is the bot's status before this check, read under its lock. A check that needs
    # alerting was written whole (the statement's own rule), so it has an id.
    alerting = [vid for vid, status, before in recorded.values() if needs_alerting(status, before)]
    return Recorded(held=held, rows=kept, for_alerting=sorted(alerting), portal_alerting=portal_alerting)


def _isoformat(value):
    # Full microseconds: the slot is part of a unique key (DjangoJSONEncoder keeps milliseconds).
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
