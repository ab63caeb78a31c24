"""Settings come from the environment; a bad or missing value stops the start with a message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def check(**env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env, message", [
    ({"TRANSCRIBE_BACKEND": "aws"}, "TRANSCRIBE_BACKEND=aws needs AWS_STORAGE_BUCKET_NAME, "
                                    "SAGEMAKER_ENDPOINT_NAME, JOBS_TABLE_NAME"),
    ({"TRANSCRIBE_BACKEND": "azure"}, "TRANSCRIBE_BACKEND must be one of local, aws"),
    ({"UPLOAD_MAX_BYTES": "lots"}, "UPLOAD_MAX_BYTES must be a whole number"),
    ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
    ({"DJANGO_ENV": "production"}, "DJANGO_SECRET_KEY must be set"),
])
def test_bad_settings_fail_loudly(env, message, tmp_path):
    result = check(VAR_DIR=str(tmp_path), **env)
    assert result.returncode != 0 and message in result.stderr


def test_aws_settings_from_the_stack_outputs_pass(tmp_path):
    result = check(VAR_DIR=str(tmp_path), TRANSCRIBE_BACKEND="aws", AWS_STORAGE_BUCKET_NAME="b",
                   SAGEMAKER_ENDPOINT_NAME="e", JOBS_TABLE_NAME="t")
    assert result.returncode == 0, result.stderr
