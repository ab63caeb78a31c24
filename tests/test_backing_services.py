"""The web app's suite again, on PostgreSQL and with the Redis channel layer, as a
deployment beyond one machine runs it. Skipped, with the reason, where they are absent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import pytest

from tests.conftest import REPO

DATABASE_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unreachable(url: str) -> str | None:
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=2).close()
    except OSError as exc:
        return f"{parsed.scheme} at {parsed.hostname}:{parsed.port} is not reachable ({exc})"
    return None


@pytest.mark.parametrize("suite", ["tests/transcripts"])
def test_web_app_suite_on_postgresql_and_redis(suite):
    for url in (DATABASE_URL, REDIS_URL):
        reason = _unreachable(url)
        if reason:
            pytest.skip(f"{reason}: the PostgreSQL/Redis run of {suite} is skipped")
    run_id = uuid.uuid4().hex[:8]  # its own test database and channel prefix
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
           "REDIS_PREFIX": f"test-{run_id}", "DATABASE_TEST_NAME": f"test_transcripts_{run_id}"}
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", suite, "-q", "-p", "no:randomly"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    finally:
        _drop_database(env["DATABASE_TEST_NAME"])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]


def _drop_database(name: str) -> None:
    """Leave no test database behind, even when a lingering connection kept Django from
    dropping it."""
    import psycopg

    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
