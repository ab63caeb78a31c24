"""Web app fixtures: two people, media in a temporary folder, a way to make jobs."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from transcripts.models import RANK, Job, Status, TranscriptVersion
from transcripts.services import Outcome, machine_segments


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media")}}}
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def progress_throttle():
    """Each test starts with no progress message sent (primary keys repeat across tests)."""
    from transcripts import live
    live._last_progress.clear()
    yield
    live._last_progress.clear()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-secret-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-secret-1")


def make_result(text: str, segments=None) -> dict:
    segments = segments or [{"id": 0, "start": 0.0, "end": 2.5, "text": text, "avg_logprob": -0.2,
                             "no_speech_prob": 0.01, "compression_ratio": 1.2}]
    return {"schema_version": "1.0", "text": text, "language": "en", "language_probability": 1.0,
            "duration": 2.5, "segments": segments, "options": {"task": "transcribe"},
            "model": {"engine": "faster-whisper", "model": "tiny.en", "device": "cpu",
                      "compute_type": "int8", "multilingual": False},
            "timings": {"inference_seconds": 0.4}, "warnings": []}


@pytest.fixture
def make_job():
    """A job as the app would have it, without running a transcription."""
    def make(owner, name="talk.wav", status=Status.QUEUED, text="", audio=b"RIFF....WAVE"):
        job = Job(owner=owner, original_name=name, size_bytes=len(audio), status=status,
                  rank=RANK[status])
        job.audio.save("upload", ContentFile(audio), save=False)
        if status == Status.COMPLETED:
            result = make_result(text)
            job.output_name = default_storage.save(f"outputs/{job.public_id.hex}.json",
                                                   ContentFile(json.dumps(result).encode()))
            job.transcript_text, job.duration, job.language = text, 2.5, "en"
            job.finished_at = timezone.now()
        if status == Status.FAILED:
            job.failure_reason = "the audio is 0.0 seconds long"
            job.finished_at = timezone.now()
        job.save()
        if status == Status.COMPLETED:
            TranscriptVersion.objects.create(job=job, number=0, segments=machine_segments(result))
        return job
    return make


def stored_outcome(output_name: str) -> Outcome:
    """The completed outcome a backend records for a result it stored under this name."""
    with default_storage.open(output_name) as stored:
        return Outcome.completed(result=json.load(stored), output_name=output_name)


def upload(client, user, path, **options) -> Job:
    """Upload a file through the web page as `user`; the job it made."""
    client.force_login(user)
    with open(path, "rb") as audio:
        response = client.post(reverse("upload"), {"file": audio, "task": "transcribe", **options})
    assert response.status_code == 201, response.content
    return Job.objects.get(public_id=response.json()["job"]["public_id"])
