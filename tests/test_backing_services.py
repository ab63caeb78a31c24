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
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
           "REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}"}
    run = subprocess.run([sys.executable, "-m", "pytest", suite, "-q", "-p", "no:randomly"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
