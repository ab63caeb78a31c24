"""Pages and downloads over HTTP: alice owns, bob gets 404, strangers log in first."""

from __future__ import annotations

import asyncio

import pytest
from django.urls import reverse

from tests.conftest import ffmpeg
from transcripts.asgi import UploadLimit
from transcripts.models import Job, Status

pytestmark = pytest.mark.django_db

PER_JOB_URLS = [("job-detail", "get"), ("job-status", "get"), ("job-audio", "get"),
                ("job-retry", "post"), ("job-delete", "post")]


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("name, method", PER_JOB_URLS)
def test_another_persons_job_is_404(client, alice, bob, make_job, name, method):
    job = make_job(alice, status=Status.FAILED)
    client.force_login(bob)
    response = getattr(client, method)(reverse(name, args=[job.public_id]))
    assert response.status_code == 404
    assert Job.objects.filter(pk=job.pk, status="failed").exists()  # nothing happened to it


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json"])
def test_another_persons_download_is_404(client, alice, bob, make_job, fmt):
    job = make_job(alice, status=Status.COMPLETED, text="secret words")
    client.force_login(bob)
    assert client.get(reverse("job-download", args=[job.public_id, fmt])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, alice, make_job):
    job = make_job(alice)
    for url in (reverse("dashboard"), reverse("upload"), reverse("job-detail", args=[job.public_id])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_sign_up_log_out_and_log_in(client, django_user_model):
    response = client.post(reverse("signup"), {"username": "carol", "password1": "a-long-pass-42",
                                               "password2": "a-long-pass-42"})
    assert response.status_code == 302 and django_user_model.objects.filter(username="carol").exists()
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302
    client.post(reverse("login"), {"username": "carol", "password": "a-long-pass-42"})
    assert client.get(reverse("dashboard")).status_code == 200


def test_dashboard_lists_filters_and_escapes(alice_client, alice, bob, make_job):
    make_job(alice, name="<script>alert(1)</script>.wav", status=Status.COMPLETED, text="quarterly budget")
    make_job(alice, name="other.wav", status=Status.FAILED)
    make_job(bob, name="bobs-secret.wav")
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.wav" in page and "<script>alert(1)" not in page
    assert "bobs-secret" not in page and "other.wav" in page
    found = alice_client.get(reverse("dashboard"), {"q": "budget"}).content.decode()
    assert "alert(1)" in found and "other.wav" not in found
    failed = alice_client.get(reverse("dashboard"), {"status": "failed"}).content.decode()
    assert "other.wav" in failed and "alert(1)" not in failed


def test_dashboard_pages(alice_client, alice, make_job, settings):
    settings.JOBS_PER_PAGE = 2
    for i in range(5):
        make_job(alice, name=f"job-{i}.wav")
    first = alice_client.get(reverse("dashboard")).content.decode()
    assert "job-4.wav" in first and "job-3.wav" in first and "job-2.wav" not in first
    assert "Page 1" in first and "page=2" in first and "Newer" not in first
    last = alice_client.get(reverse("dashboard"), {"page": 3}).content.decode()
    assert "job-0.wav" in last and "job-1.wav" not in last
    assert "page=2" in last and "page=4" not in last


def test_upload_stores_the_file_and_queues_a_job(alice_client, alice, report_wav):
    with open(report_wav, "rb") as audio:
        response = alice_client.post(reverse("upload"), {"file": audio, "language": "en",
                                                         "task": "transcribe", "word_timestamps": "on"})
    assert response.status_code == 201
    job = Job.objects.get(owner=alice)
    assert response.json()["job"]["public_id"] == str(job.public_id)
    assert job.status == "queued" and job.original_name == "report.wav"
    assert job.options == {"language": "en", "task": "transcribe", "word_timestamps": True,
                           "initial_prompt": None}
    assert job.audio.read() == report_wav.read_bytes()


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"just some text, not audio at all", "not audio or video"),
])
def test_a_file_that_is_not_audio_is_refused_before_it_is_queued(alice_client, tmp_path, content, message):
    path = tmp_path / "notes.mp3"
    path.write_bytes(content)
    with open(path, "rb") as upload:
        response = alice_client.post(reverse("upload"), {"file": upload, "task": "transcribe"})
    assert response.status_code == 400 and message in response.json()["error"]
    assert not Job.objects.exists()


def test_a_picture_is_refused_with_the_reason(alice_client, tmp_path):
    picture = tmp_path / "photo.wav"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=32x32", "-frames:v", "1", "-f", "image2",
           "-c:v", "png", str(picture))
    with open(picture, "rb") as upload:
        response = alice_client.post(reverse("upload"), {"file": upload, "task": "transcribe"})
    assert response.status_code == 400 and "not a recording" in response.json()["error"]


def test_the_size_limit_is_enforced_before_anything_is_stored(settings):
    settings.UPLOAD_MAX_BYTES = 1000
    reached = []

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        reached.append(True)

    async def call(headers, chunks):
        sent = []
        messages = iter([{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                         for i, c in enumerate(chunks)])
        async def receive():
            return next(messages)
        async def send(message):
            sent.append(message)
        await UploadLimit(app, slack=0)({"type": "http", "headers": headers}, receive, send)
        return sent

    declared = asyncio.run(call([(b"content-length", b"5000")], [b"x" * 5000]))
    assert declared[0]["status"] == 413 and not reached
    streamed = asyncio.run(call([], [b"x" * 600, b"x" * 600]))
    assert streamed[0]["status"] == 413 and not reached
    assert b"upload limit" in streamed[1]["body"]
    asyncio.run(call([(b"content-length", b"900")], [b"x" * 900]))
    assert reached == [True]


def test_transcript_page_downloads_and_player(alice_client, alice, make_job):
    job = make_job(alice, name="talk.wav", status=Status.COMPLETED, text="Hello world.")
    page = alice_client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "Hello world." in page and 'data-start="0.0"' in page
    assert reverse("job-audio", args=[job.public_id]) in page
    srt = alice_client.get(reverse("job-download", args=[job.public_id, "srt"]))
    assert srt.content.decode() == "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n"
    assert 'filename="talk.srt"' in srt["Content-Disposition"]
    vtt = alice_client.get(reverse("job-download", args=[job.public_id, "vtt"])).content.decode()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello world.")
    assert alice_client.get(reverse("job-download", args=[job.public_id, "txt"])).content == b"Hello world.\n"
    assert alice_client.get(reverse("job-download", args=[job.public_id, "json"])).json()["text"] == "Hello world."
    assert alice_client.get(reverse("job-download", args=[job.public_id, "doc"])).status_code == 404


def test_audio_supports_byte_ranges_for_seeking(alice_client, alice, make_job):
    job = make_job(alice, audio=bytes(range(256)) * 4)
    url = reverse("job-audio", args=[job.public_id])
    whole = alice_client.get(url)
    assert b"".join(whole.streaming_content) == bytes(range(256)) * 4
    part = alice_client.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part["Content-Range"] == "bytes 10-19/1024"
    assert b"".join(part.streaming_content) == bytes(range(10, 20))
    tail = alice_client.get(url, HTTP_RANGE="bytes=-4")
    assert b"".join(tail.streaming_content) == bytes(range(252, 256))
    assert alice_client.get(url, HTTP_RANGE="bytes=5000-").status_code == 416


def test_failed_job_shows_the_reason_and_retry_queues_it(alice_client, alice, make_job):
    job = make_job(alice, status=Status.FAILED)
    page = alice_client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "the audio is 0.0 seconds long" in page and "Retry" in page
    alice_client.post(reverse("job-retry", args=[job.public_id]))
    job.refresh_from_db()
    assert job.status == "queued"


def test_delete_removes_the_job(alice_client, alice, make_job):
    job = make_job(alice)
    response = alice_client.post(reverse("job-delete", args=[job.public_id]))
    assert response.status_code == 302 and not Job.objects.filter(pk=job.pk).exists()
