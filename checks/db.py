"""A raw psycopg cursor on Django's connection, for the PostgreSQL fast paths of the engine and pacing."""

import psycopg
from django.db import connection


def raw_cursor() -> psycopg.Cursor:
    # Django's cursors bind client-side, quoting every value in Python; a plain psycopg
    # cursor sends the values apart. Same connection, so the same transaction.
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)
