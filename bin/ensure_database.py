"""Create the PostgreSQL database named by a URL when it does not exist yet (used by `make`)."""

import sys

import dj_database_url
import psycopg
from psycopg import sql


def main(url: str) -> int:
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return 0
    params = {"host": config["HOST"] or None, "port": config["PORT"] or None,
              "user": config["USER"] or None, "password": config["PASSWORD"] or None,
              "connect_timeout": 5}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    [config["NAME"]]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"created database {config['NAME']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
