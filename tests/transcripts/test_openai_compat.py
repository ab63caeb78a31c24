"""The OpenAI-compatible endpoints, driven by the stock `openai` Python client against a
real web app (`manage.py runlocal`) and the real model server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import openai
import pytest
from django.urls import reverse

from devtools.servers import REPO, start_web_app
from tests.conftest import SHARED_AUDIO, words
from tests.media_samples import long_recording
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


def test_diarized_json_reads_as_openais_own(live, report_wav):
    """A stock client asks for speakers as it would ask OpenAI, and reads the answer with
    OpenAI's own type: one voice is one speaker, A."""
    client, _ = live
    with open(report_wav, "rb") as audio:
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize", file=audio, response_format="diarized_json",
            extra_body={"chunking_strategy": "auto"})
    assert type(result).__name__ == "TranscriptionDiarized" and result.task == "transcribe"
    assert {"report", "john", "friday"} <= set(words(result.text))
    assert {s.speaker for s in result.segments} == {"A"}
    assert result.segments[0].type == "transcript.text.segment" and result.segments[0].id == "seg_0"
    assert result.usage.type == "duration" and result.usage.seconds == result.duration > 2


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


def test_stream_true_sends_the_text_as_it_is_made(live, tmp_path):
    """A stock client reads a long recording's text while the rest is transcribed: deltas
    that only add text, the first well before the end, then the whole text."""
    client, _ = live
    shared = SHARED_AUDIO if SHARED_AUDIO.exists() else None
    recording = long_recording(tmp_path / "talk.flac", minutes=5, shared_audio=shared)  # two windows
    deltas, done = [], []
    with open(recording, "rb") as audio:
        for event in client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True):
            if event.type == "transcript.text.delta":
                deltas.append((time.monotonic(), event.delta))
            elif event.type == "transcript.text.done":
                done.append((time.monotonic(), event.text))
    assert len(done) == 1 and len(deltas) >= 2
    finished_at, text = done[0]
    assert text == "".join(delta for _, delta in deltas)  # the deltas add up to the text
    assert words(text).count("section") >= 4 and len(words(text)) > 200
    assert finished_at - deltas[0][0] >= 2, "the first words came only with the last"


def test_stream_errors_reach_a_stock_client(live, report_wav):
    client, _ = live
    with open(report_wav, "rb") as audio, pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True, response_format="srt")
    assert "stream" in str(refused.value)
    with open(report_wav, "rb") as audio, pytest.raises(openai.APIError) as failed:
        list(client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True, language="fr"))
    assert "English-only" in str(failed.value)  # the job failed after the stream began
