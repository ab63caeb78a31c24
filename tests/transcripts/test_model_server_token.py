"""The shared secret between the dispatcher and the model server (MODEL_SERVER_TOKEN): the
dispatcher sends it, a missing or wrong one leaves jobs waiting (the operator's to fix, not
the job's fault), and `make run` makes one per run for both sides."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
import requests

from devtools.servers import REPO, free_port, start_server, start_web_app
from tests.conftest import words
from tests.transcripts.conftest import upload
from transcripts.models import Job
from transcripts.workers.dispatcher import Dispatcher

TOKEN = "dispatcher-test-token-42"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("guarded"), MODEL_SERVER_TOKEN=TOKEN)
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_sends_the_token_and_without_it_jobs_wait(client, alice, report_wav,
                                                                   guarded_server, settings, caplog):
    job = upload(client, alice, report_wav)
    settings.MODEL_SERVER_TOKEN = None
    with caplog.at_level(logging.WARNING, logger="transcripts.workers.dispatcher"):
        Dispatcher(container_url=guarded_server.url).step()
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 0 and job.failure_reason == ""
    assert "MODEL_SERVER_TOKEN" in caplog.text  # the operator is told why jobs wait
    Job.objects.filter(pk=job.pk).update(lease_until=None)  # skip the wait before the next try
    settings.MODEL_SERVER_TOKEN = TOKEN
    Dispatcher(container_url=guarded_server.url).step()
    job.refresh_from_db()
    assert job.status == "completed", job.failure_reason
    assert {"report", "john", "friday"} <= set(words(job.transcript_text))


MAKE_KEY = ("from django.contrib.auth import get_user_model; from transcripts.services.tokens import token_create; "
            "u = get_user_model().objects.create_user('tom', password='tom-pass-42'); "
            "print(token_create(owner=u, name='token-test')[1])")


def test_make_run_gives_its_model_server_a_token_and_its_dispatcher_sends_it(tmp_path, report_wav):
    model_port = free_port()
    web = start_web_app(tmp_path, f"http://127.0.0.1:{model_port}", own_model_server=True,
                        DISPATCHER_POLL_MS="300", DISPATCHER_RETRY_SECONDS="1")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        made = subprocess.run([sys.executable, "manage.py", "shell", "-c", MAKE_KEY], cwd=REPO,
                              env={**env, "VAR_DIR": str(tmp_path)}, capture_output=True, text=True,
                              check=True)
        key = made.stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        with open(report_wav, "rb") as audio:
            created = requests.post(f"{web.url}/api/v1/jobs/", files={"file": audio}, headers=auth,
                                    timeout=60)
        assert created.status_code == 201, created.text
        job_url = f"{web.url}/api/v1/jobs/{created.json()['public_id']}/"
        deadline = time.monotonic() + 180
        while (job := requests.get(job_url, headers=auth, timeout=10).json())["status"] not in (
                "completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert job["status"] == "completed", job
        # The model server is up (it just transcribed) and takes nobody without the token.
        model_url = f"http://127.0.0.1:{model_port}"
        assert requests.get(model_url + "/ping", timeout=5).status_code == 200
        stranger = requests.post(model_url + "/invocations", data=report_wav.read_bytes(), timeout=60,
                                 headers={"Content-Type": "application/octet-stream"})
        assert stranger.status_code == 401, stranger.text
    finally:
        web.stop()
