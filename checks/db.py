"""PostgreSQL fast paths of the engine (checks/engine.py): claiming and recording.

Per bot, Django's bulk_create and an ORM round trip of every state column cost more CPU
than the HTTP exchange that produced the result, and each statement of a run is a round
trip that a busy worker thread waits for. On PostgreSQL a run is therefore recorded by
one statement, fed one JSON document (encoded in C): it releases the claim, inserts the
verifications and computes each bot's new state from the rows just inserted. The outcome
is the same as the portable path in checks/engine.py (the engine's tests run on SQLite and
on PostgreSQL); the UPDATE reads each bot's current row under its row lock, so a
concurrent manual `verify` cannot be lost.
"""

import psycopg
from django.db import connection


def raw_cursor() -> psycopg.Cursor:
    # Django's cursors bind client-side, quoting every value in Python; a plain psycopg
    # cursor sends the values apart. Same connection, so the same transaction.
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)
