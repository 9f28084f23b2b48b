"""Transaction-scoped advisory locks: writers that must not interleave take the same key."""

from django.db import connection


def advisory_xact_lock(key: str) -> None:
    """Hold a PostgreSQL advisory lock on `key` until the transaction ends. On SQLite (`make
    run` without PostgreSQL) writes are serialised by the database itself: nothing to do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def advisory_xact_try_lock(key: str) -> bool:
    """Take the advisory lock on `key` until the transaction ends if nobody holds it; never
    waits. True on SQLite, where the database serialises writers itself."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [key])
        return bool(cursor.fetchone()[0])
