"""Concurrent writers on SQLite: no lost update, no "database is locked" reaching anyone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from devtools.servers import REPO


def test_many_threads_writing_at_once_lose_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["VAR_DIR"] = str(tmp_path)
    run = subprocess.run([sys.executable, "tests/faults/sqlite_writers.py"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["errors"] == [], summary["errors"][0]
    assert summary["jobs"] == summary["completed"] == 100  # every job written and finished
    assert summary["processed"] == summary["distinct_processed"] == 100  # each exactly once
    assert summary["versions"] == 100  # one machine transcript each: no duplicate outcome
