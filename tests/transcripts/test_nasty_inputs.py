"""Every kind of awkward file through the whole app, by the web page and by the API, to the
real model server: each is refused before it is queued with a reason, or ends as a completed
job with the right text (none for silence and noise) or a failed job with a reason; never a
500, nothing written outside the media folder, the name only ever displayed, escaped."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests import media_samples as media
from tests.conftest import words
from transcripts.models import Job
from transcripts.services.tokens import token_create
from transcripts.workers.dispatcher import Dispatcher

pytestmark = pytest.mark.django_db(transaction=True)
REFUSED, EMPTY, SPOKEN, FAILED = "refused", "empty", "spoken", "failed"


def samples(report: Path, folder: Path) -> dict:  # noqa: F821
    """name → (file, what a person should get)."""
    mp3 = media.convert(report, folder / "speech.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    return {
        "empty.wav": (media.truncated(report, folder / "empty.wav", keep=0), REFUSED),
        "random.mp3": (_random(folder / "random.mp3"), REFUSED),
        "photo.wav": (media.png(folder / "photo.wav"), REFUSED),
        "archive.m4a": (media.zip_of(report, folder / "archive.m4a"), REFUSED),
        "truncated.mp3": (media.truncated(mp3, folder / "truncated.mp3", keep=0.7), SPOKEN),
        "lying-header.wav": (media.lying_wav(report, folder / "lying-header.wav"), SPOKEN),
        "header-only.wav": (media.header_only_wav(folder / "header-only.wav"), FAILED),
        "50ms.wav": (media.lavfi(folder / "50ms.wav", "sine=sample_rate=16000", 0.05), EMPTY),
        "ten-minutes-of-silence.ogg": (media.lavfi(folder / "ten-minutes-of-silence.ogg",
                                                   "anullsrc=r=16000:cl=mono", 600, "-c:a", "libopus"), EMPTY),
        "a-minute-of-noise.flac": (media.lavfi(folder / "a-minute-of-noise.flac",
                                               "anoisesrc=r=16000:a=0.3:c=white", 60), EMPTY),
        "an-hour-of-tone.ogg": (media.lavfi(folder / "an-hour-of-tone.ogg", "sine=frequency=440:sample_rate=16000",
                                            3600, "-c:a", "libopus", "-b:a", "8k"), EMPTY),
        "video.mp4": (media.video_with_audio(report, folder / "video.mp4"), SPOKEN),
        "recorder.webm": (media.convert(report, folder / "recorder.webm", "-c:a", "libopus", "-ar", "48000"), SPOKEN),
        "phone-ulaw.wav": (media.convert(report, folder / "phone-ulaw.wav", "-ar", "8000", "-c:a", "pcm_mulaw"), "telephone"),
        "studio-96k-24bit.wav": (media.convert(report, folder / "studio.wav", "-ar", "96000", "-ac", "2",
                                               "-c:a", "pcm_s24le"), SPOKEN),
    }


def _random(target):
    target.write_bytes(os.urandom(40_000))
    return target


HOSTILE_NAMES = ["../../etc/passwd.wav", "..\\..\\windows\\system32.wav", 'quote"s and \'single\'.wav',
                 "semi;colon; rm -rf ~.wav", "Ünïcødé 録音 🎙.wav", "<img src=x onerror=alert(1)>.wav"]


@pytest.fixture
def key(alice):
    return token_create(owner=alice, name="nasty")[1]


def send(client, via, name, path, key):
    upload = SimpleUploadedFile(name, path.read_bytes())
    if via == "web":
        return client.post(reverse("upload"), {"file": upload})
    return client.post(reverse("api-jobs"), {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.parametrize("via", ["web", "api"])
def test_every_awkward_file_ends_in_a_clear_state(client, alice, key, report_wav, model_server,
                                                  tmp_path, media, settings, via):
    client.force_login(alice)
    settings.UPLOADS_PER_HOUR = 1000
    expected = {}
    for name, (path, outcome) in samples(report_wav, tmp_path).items():
        response = send(client, via, name, path, key)
        assert response.status_code < 500, (name, response.content)
        if outcome == REFUSED:
            assert response.status_code == 400 and response.json()["error"].startswith(name), name
        else:
            assert response.status_code == 201, (name, response.content)
            expected[response.json().get("public_id") or response.json()["job"]["public_id"]] = (name, outcome)
    dispatcher = Dispatcher(container_url=model_server.url)
    while dispatcher.step():
        pass
    for public_id, (name, outcome) in expected.items():
        job = Job.objects.get(public_id=public_id)
        said = set(words(job.transcript_text))
        if outcome == FAILED:
            assert job.status == "failed" and "0.0 seconds long" in job.failure_reason, name
        elif outcome == EMPTY:
            assert job.status == "completed" and job.transcript_text == "", (name, job.transcript_text)
        elif outcome == "telephone":
            assert job.status == "completed" and {"please", "send", "friday"} <= said, name
        else:
            assert job.status == "completed" and {"report", "friday"} & said, (name, job.transcript_text)
    inside = {p.resolve() for p in media.rglob("*") if p.is_file()}
    assert all(str(p).startswith(str(media.resolve())) for p in inside)


def test_hostile_file_names_are_kept_as_text_and_shown_escaped(client, alice, report_wav, media):
    client.force_login(alice)
    for name in HOSTILE_NAMES:
        assert send(client, "web", name, report_wav, None).status_code == 201, name
    stored = sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())
    assert all(s.startswith("inputs/") and ".." not in s for s in stored) and len(stored) == len(HOSTILE_NAMES)
    page = client.get(reverse("dashboard")).content.decode()
    assert "<img src=x onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.wav" in page
    names = set(Job.objects.values_list("original_name", flat=True))
    assert "passwd.wav" in names and "system32.wav" in names and "Ünïcødé 録音 🎙.wav" in names
    for job in Job.objects.all():
        download = client.get(reverse("job-audio", args=[job.public_id]))
        assert download.status_code == 200


@pytest.mark.parametrize("start", ["99999999999999999999", "-1", "abc", "1.5", "²"])
def test_a_transcript_window_past_any_number_is_a_400_not_a_500(client, alice, make_job, start):
    job = make_job(alice, status="completed", text="Hello world.")
    client.force_login(alice)
    response = client.get(reverse("job-transcript", args=[job.public_id]), {"start": start})
    assert response.status_code == 400 and "start must be a whole number" in response.json()["error"]
    ok = client.get(reverse("job-transcript", args=[job.public_id]), {"start": "0"})
    assert ok.status_code == 200 and ok.json()["segments"][0]["text"] == "Hello world."


@pytest.mark.parametrize("kind", ["hls", "hls-file-url", "concat"])
def test_a_playlist_that_would_read_other_files_on_the_host_is_refused(kind, report_wav, tmp_path):
    from transcripts.media_check import NotAudio, check_audio

    playlist = {"hls": lambda: media.hls_playlist(report_wav, tmp_path / "talk.wav"),
                "hls-file-url": lambda: media.hls_playlist(report_wav, tmp_path / "talk.mp3", file_url=True),
                "concat": lambda: media.concat_list(report_wav, tmp_path / "talk.ogg")}[kind]()
    with pytest.raises(NotAudio, match="a playlist, an image or another format that is not a recording"):
        check_audio(str(playlist))
    assert check_audio(str(report_wav)) > 2  # a real recording still passes
