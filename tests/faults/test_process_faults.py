"""Faults injected into real processes: the web app (with its dispatcher) killed with
SIGKILL in the middle of a job, the model server killed or down for a while."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from devtools.servers import REPO, free_port, start_server, start_web_app
from tests.conftest import ffmpeg, words

FAST_RECOVERY = {"DISPATCHER_LEASE_SECONDS": "5", "DISPATCHER_RETRY_SECONDS": "1",
                 "DISPATCHER_POLL_MS": "300"}
MAKE_KEY = ("from django.contrib.auth import get_user_model; from transcripts.services.tokens import token_create; "
            "u = get_user_model().objects.create_user('fay', password='fay-pass-42'); "
            "print(token_create(owner=u, name='faults')[1])")


def api_key(var_dir) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", MAKE_KEY], cwd=REPO,
                          env={**env, "VAR_DIR": str(var_dir)}, capture_output=True, text=True, check=True)
    return made.stdout.strip().splitlines()[-1]


def submit(web, key, path) -> str:
    with open(path, "rb") as audio:
        response = requests.post(f"{web.url}/api/v1/jobs/", files={"file": audio},
                                 headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["public_id"]


def status(web, key, job_id) -> dict:
    return requests.get(f"{web.url}/api/v1/jobs/{job_id}/", timeout=10,
                        headers={"Authorization": f"Bearer {key}"}).json()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def long_speech(window_wav, tmp_path_factory):
    """About 40 s of speech: long enough to kill things while it is being transcribed."""
    target = tmp_path_factory.mktemp("faults") / "long.wav"
    ffmpeg("-stream_loop", "10", "-i", str(window_wav), str(target))
    return target


def test_web_process_killed_mid_job_completes_exactly_once_after_restart(
        model_server, long_speech, tmp_path):
    web = start_web_app(tmp_path, model_server.url, **FAST_RECOVERY)
    key = api_key(tmp_path)
    job_id = submit(web, key, long_speech)
    wait_for(lambda: status(web, key, job_id)["status"] == "processing", 60, "processing")
    web.kill()
    port = web.port
    restarted = start_web_app(tmp_path, model_server.url, port=port, **FAST_RECOVERY)
    try:
        final = wait_for(lambda: (s := status(restarted, key, job_id))["status"] in
                         ("completed", "failed") and s, 180, "the job to finish after the restart")
        assert final["status"] == "completed", final["failure_reason"]
    finally:
        restarted.stop()
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    (attempts,) = db.execute("SELECT attempts FROM transcripts_job").fetchone()
    (versions,) = db.execute("SELECT count(*) FROM transcripts_transcriptversion").fetchone()
    assert attempts == 2 and versions == 1  # taken again once; the outcome landed once
    outputs = list((tmp_path / "media" / "outputs").rglob("*.json"))
    assert len(outputs) == 1


def test_model_server_killed_mid_job_then_back_the_job_completes(long_speech, report_wav, tmp_path):
    port = free_port()
    (tmp_path / "serve").mkdir()
    model = start_server(tmp_path / "serve", port=port)
    web = start_web_app(tmp_path, f"http://127.0.0.1:{port}", **FAST_RECOVERY)
    key = api_key(tmp_path)
    try:
        long_job = submit(web, key, long_speech)
        short_job = submit(web, key, report_wav)
        wait_for(lambda: status(web, key, long_job)["status"] == "processing", 60, "processing")
        time.sleep(1.0)
        model.kill()  # the job in hand is lost with it; the other one waits
        time.sleep(3)
        assert status(web, key, short_job)["status"] in ("queued", "processing")
        model = start_server(tmp_path / "serve", port=port)  # back after a while
        for job_id in (long_job, short_job):
            final = wait_for(lambda job_id=job_id: (s := status(web, key, job_id))["status"] in
                             ("completed", "failed") and s, 240, f"job {job_id}")
            assert final["status"] == "completed", final["failure_reason"]
        said = requests.get(f"{web.url}/api/v1/jobs/{short_job}/transcript/?format=txt", timeout=10,
                            headers={"Authorization": f"Bearer {key}"}).text
        assert "friday" in words(said)
    finally:
        web.stop()
        model.stop()
