#!/usr/bin/env python3
"""The web image's entrypoint: builds DATABASE_URL from the database secret's fields and puts
the Redis AUTH token into REDIS_URL, then runs the command (uvicorn, `manage.py work` or
`manage.py migrate`) in its place.

On ECS the RDS secret arrives as separate variables (DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASSWORD; infra/web.py injects them from Secrets Manager) so that the password never sits
in the task definition; the generated password may hold characters that a URL must escape.
A DATABASE_URL that is set already is left alone (e.g. `docker run -e DATABASE_URL=...`).
REDIS_AUTH_TOKEN (a secret too) goes into REDIS_URL as its password."""

from __future__ import annotations

import os
import sys
from urllib.parse import quote

PARTS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")
SECRETS = ("DB_PASSWORD", "REDIS_AUTH_TOKEN")  # the command needs only the URLs


def database_url(env: dict[str, str]) -> str | None:
    if env.get("DATABASE_URL") or not env.get("DB_HOST"):
        return None
    missing = [name for name in PARTS if not env.get(name)]
    if missing:
        raise SystemExit(f"container_env: DB_HOST is set but {', '.join(missing)} is not")
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    # RDS for PostgreSQL 15+ refuses connections without TLS (rds.force_ssl=1).
    return (f"postgres://{user}:{password}@{env['DB_HOST']}:{env['DB_PORT']}/"
            f"{quote(env['DB_NAME'], safe='')}?sslmode=require")


def redis_url(env: dict[str, str]) -> str | None:
    url, token = env.get("REDIS_URL", ""), env.get("REDIS_AUTH_TOKEN", "")
    if not url or not token:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or "@" in rest:
        raise SystemExit("container_env: REDIS_URL must be scheme://host:port without a password "
                         "when REDIS_AUTH_TOKEN is set")
    return f"{scheme}://:{quote(token, safe='')}@{rest}"


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: container_env.py COMMAND [ARG...]")
    env = dict(os.environ)
    for name, build in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)):
        url = build(env)
        if url:
            os.environ[name] = url
    for name in SECRETS:
        os.environ.pop(name, None)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
