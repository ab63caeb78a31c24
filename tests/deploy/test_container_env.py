"""deploy/container_env.py, the web image's entrypoint: the URLs it builds from the secrets
that ECS injects one field at a time, and that the command it runs gets them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import dj_database_url
import pytest

from tests.conftest import REPO

SCRIPT = REPO / "deploy" / "container_env.py"
spec = importlib.util.spec_from_file_location("container_env", SCRIPT)
container_env = importlib.util.module_from_spec(spec)
spec.loader.exec_module(container_env)

DB = {"DB_HOST": "db.abc.eu-west-1.rds.amazonaws.com", "DB_PORT": "5432",
      "DB_NAME": "transcribe", "DB_USER": "transcribe", "DB_PASSWORD": "p:a/s?s#w%o[r]d^~"}


def test_database_url_escapes_a_generated_password():
    url = container_env.database_url(DB)
    parsed = dj_database_url.parse(url)
    assert parsed["ENGINE"] == "django.db.backends.postgresql"
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"]) == (DB["DB_HOST"], 5432, "transcribe")
    assert (parsed["USER"], parsed["PASSWORD"]) == ("transcribe", DB["DB_PASSWORD"])
    assert parsed["OPTIONS"] == {"sslmode": "require"}


def test_a_given_database_url_wins_and_no_host_means_no_url():
    assert container_env.database_url({**DB, "DATABASE_URL": "postgres://x@y/z"}) is None
    assert container_env.database_url({}) is None


def test_a_host_without_the_other_parts_stops_the_start():
    with pytest.raises(SystemExit, match="DB_PASSWORD"):
        container_env.database_url({k: v for k, v in DB.items() if k != "DB_PASSWORD"})


def test_redis_token_becomes_the_password_of_the_url():
    url = container_env.redis_url({"REDIS_URL": "rediss://master.x.cache.amazonaws.com:6379",
                                   "REDIS_AUTH_TOKEN": "tok:en"})
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("rediss", "master.x.cache.amazonaws.com", 6379)
    assert unquote(parts.password) == "tok:en"
    assert container_env.redis_url({"REDIS_URL": "redis://h:6379"}) is None


def test_the_command_runs_with_the_urls_and_without_the_bare_secrets():
    env = {**os.environ, **DB, "REDIS_URL": "rediss://h:6379", "REDIS_AUTH_TOKEN": "t"}
    env.pop("DATABASE_URL", None)
    show = "import os; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'], " \
           "'DB_PASSWORD' in os.environ, 'REDIS_AUTH_TOKEN' in os.environ)"
    done = subprocess.run([sys.executable, str(SCRIPT), sys.executable, "-c", show],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    database, redis, *leaked = done.stdout.split()
    assert database == container_env.database_url(DB)
    assert redis == "rediss://:t@h:6379"
    assert leaked == ["False", "False"]
