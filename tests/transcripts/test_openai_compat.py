"""The OpenAI-compatible endpoints, driven by the stock `openai` Python client against a
real web app (`manage.py runlocal`) and the real model server."""

from __future__ import annotations

import os
import subprocess
import sys

import openai
import pytest
from django.urls import reverse

from devtools.servers import REPO, start_web_app
from tests.conftest import words
from transcripts.models import Job
from transcripts.services.tokens import token_create

MAKE_KEY = ("from django.contrib.auth import get_user_model; from transcripts.services.tokens import token_create; "
            "user = get_user_model().objects.create_user('olga', password='olga-pass-42'); "
            "print(token_create(owner=user, name='openai client')[1])")


@pytest.fixture(scope="module")
def live(model_server, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    web = start_web_app(var_dir, model_server.url)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", MAKE_KEY], cwd=REPO,
                          env={**env, "VAR_DIR": str(var_dir)}, capture_output=True, text=True, check=True)
    key = made.stdout.strip().splitlines()[-1]
    yield openai.OpenAI(base_url=f"{web.url}/v1", api_key=key, max_retries=0, timeout=120), web
    web.stop()


def test_a_stock_openai_client_transcribes(live, report_wav):
    client, _ = live
    with open(report_wav, "rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert {"report", "john", "friday"} <= set(words(result.text))


def test_verbose_json_with_word_timestamps(live, report_wav):
    client, _ = live
    with open(report_wav, "rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json",
            timestamp_granularities=["word", "segment"], language="en", prompt="John")
    assert result.language == "english" and result.duration > 2
    assert result.segments[0].start == 0.0 and "Friday" in result.segments[-1].text
    assert [w.word for w in result.words][-1].lower().startswith("friday")


def test_subtitles_and_text_formats(live, report_wav):
    client, _ = live
    with open(report_wav, "rb") as audio:
        srt = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> ") and "Friday" in srt


def test_errors_come_back_as_openai_errors(live, report_wav, tmp_path):
    client, web = live
    with open(report_wav, "rb") as audio, pytest.raises(openai.BadRequestError) as refused:
        client.audio.translations.create(model="whisper-1", file=audio)  # tiny.en cannot translate
    assert "English-only" in str(refused.value)
    (tmp_path / "notes.mp3").write_text("not audio")
    with open(tmp_path / "notes.mp3", "rb") as junk, pytest.raises(openai.BadRequestError) as bad:
        client.audio.transcriptions.create(model="whisper-1", file=junk)
    assert "not audio or video" in str(bad.value)
    stranger = openai.OpenAI(base_url=f"{web.url}/v1", api_key="wt_wrong", max_retries=0)
    with open(report_wav, "rb") as audio, pytest.raises(openai.AuthenticationError):
        stranger.audio.transcriptions.create(model="whisper-1", file=audio)


@pytest.mark.django_db(transaction=True)
def test_a_job_that_takes_longer_answers_202_with_its_url(client, alice, report_wav, settings):
    settings.OPENAI_WAIT_SECONDS = 0  # no dispatcher runs here: the job stays queued
    key = token_create(owner=alice, name="t")[1]
    with open(report_wav, "rb") as audio:
        response = client.post(reverse("openai-transcriptions"), {"file": audio, "model": "whisper-1"},
                               HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 202
    job = Job.objects.get(owner=alice)
    assert response.json()["url"].endswith(f"/api/v1/jobs/{job.public_id}/")
    assert response.json()["status"] == "in_progress"
