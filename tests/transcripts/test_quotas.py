"""Upload quotas kept in a ledger that deleting a job does not shrink, and the global queue
limit: 429 / 503 with Retry-After on the upload page, the API and the OpenAI-compatible
endpoint (docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files import File
from django.urls import reverse
from django.utils import timezone

from tests.transcripts.conftest import make_result
from transcripts import services
from transcripts.models import Job, Status, UploadRecord
from transcripts.services.tokens import token_create

pytestmark = pytest.mark.django_db


def post_upload(client, report_wav):
    with open(report_wav, "rb") as audio:
        return client.post(reverse("upload"), {"file": audio})


def retry_after(response) -> int:
    return int(response["Retry-After"])


def spent(owner, *, ago: timedelta, seconds: float = 0.0, count: int = 1) -> None:
    """Uploads the person made earlier, in the ledger only (their jobs were deleted)."""
    for _ in range(count):
        UploadRecord.objects.create(owner=owner, at=timezone.now() - ago, audio_seconds=seconds)


def test_deleting_a_job_does_not_give_its_upload_back(client, alice, report_wav, settings):
    settings.UPLOADS_PER_HOUR = 2
    client.force_login(alice)
    first = post_upload(client, report_wav).json()["job"]["public_id"]
    assert post_upload(client, report_wav).status_code == 201
    assert client.post(reverse("job-delete", args=[first])).status_code == 302
    assert Job.objects.filter(owner=alice).count() == 1

    refused = post_upload(client, report_wav)
    assert refused.status_code == 429
    assert "2 files in the last hour, the limit is 2" in refused.json()["error"]
    assert 3500 <= retry_after(refused) <= 3600  # when the first upload leaves the hour
    assert UploadRecord.objects.filter(owner=alice).count() == 2


def test_uploads_per_day_count_the_last_24_hours(client, alice, bob, report_wav, settings):
    settings.UPLOADS_PER_DAY = 3
    spent(alice, ago=timedelta(hours=20), count=3)
    spent(alice, ago=timedelta(hours=25), count=5)  # yesterday's do not count
    client.force_login(alice)
    refused = post_upload(client, report_wav)
    assert refused.status_code == 429 and "3 files in the last 24 hours" in refused.json()["error"]
    assert 4 * 3600 - 60 <= retry_after(refused) <= 4 * 3600
    client.force_login(bob)  # quotas are per person
    assert post_upload(client, report_wav).status_code == 201


def test_audio_hours_per_day(client, alice, report_wav, settings):
    settings.AUDIO_HOURS_PER_DAY = 1
    spent(alice, ago=timedelta(hours=2), seconds=1800)
    spent(alice, ago=timedelta(hours=1), seconds=1799)
    client.force_login(alice)
    refused = post_upload(client, report_wav)  # a few seconds of speech, one second left
    assert refused.status_code == 429 and "1 hours of audio in 24 hours" in refused.json()["error"]
    assert 22 * 3600 - 60 <= retry_after(refused) <= 22 * 3600  # the older half hour frees it

    UploadRecord.objects.filter(audio_seconds=1800).update(at=timezone.now() - timedelta(hours=25))
    accepted = post_upload(client, report_wav)
    assert accepted.status_code == 201
    record = UploadRecord.objects.get(job__public_id=accepted.json()["job"]["public_id"])
    assert 1 < record.audio_seconds < 30 and record.size_bytes == report_wav.stat().st_size


def test_audio_unknown_at_upload_is_counted_when_the_outcome_lands(alice, report_wav):
    with open(report_wav, "rb") as audio:
        job = services.job_create(owner=alice, upload=File(audio, name="talk.wav"),
                                  original_name="talk.wav", options={})
    assert UploadRecord.objects.get(job=job).audio_seconds is None
    services.job_record_outcome(job_pk=job.pk, outcome=services.Outcome.completed(
        result=make_result("hello"), output_name="outputs/x.json"))
    services.job_delete(job=Job.objects.get(pk=job.pk))
    record = UploadRecord.objects.get(owner=alice)
    assert record.audio_seconds == 2.5 and record.job is None  # kept after the job is gone


def test_the_api_answers_429_with_retry_after(client, alice, report_wav, settings):
    settings.UPLOADS_PER_HOUR = 1
    spent(alice, ago=timedelta(minutes=10))
    key = token_create(owner=alice, name="t")[1]
    with open(report_wav, "rb") as audio:
        refused = client.post(reverse("api-jobs"), {"file": audio}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 429 and 3000 <= retry_after(refused) <= 3000 + 1


@pytest.fixture
def busy(bob, make_job, settings):
    """Two of bob's jobs wait or run, and the queue holds two; finished jobs do not count."""
    settings.QUEUE_MAX_JOBS = 2
    make_job(bob, status=Status.QUEUED)
    make_job(bob, status=Status.PROCESSING)
    make_job(bob, status=Status.COMPLETED, text="done")


def test_a_full_queue_answers_503_with_retry_after_on_the_page_and_the_api(client, alice, busy,
                                                                           report_wav, settings):
    client.force_login(alice)
    refused = post_upload(client, report_wav)
    assert refused.status_code == 503 and "the service is busy" in refused.json()["error"]
    assert retry_after(refused) == 60
    key = token_create(owner=alice, name="t")[1]
    with open(report_wav, "rb") as audio:
        refused = client.post(reverse("api-jobs"), {"file": audio}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 503 and retry_after(refused) == 60
    assert not Job.objects.filter(owner=alice).exists()
    assert not UploadRecord.objects.filter(owner=alice).exists()  # a refusal costs no quota

    settings.QUEUE_MAX_JOBS = 3
    assert post_upload(client, report_wav).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_full_queue_answers_503_on_the_openai_endpoint(client, alice, busy, report_wav):
    key = token_create(owner=alice, name="t")[1]
    with open(report_wav, "rb") as audio:
        refused = client.post(reverse("openai-transcriptions"), {"file": audio, "model": "whisper-1"},
                              HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 503 and retry_after(refused) == 60
    assert refused.json()["error"]["type"] == "server_error"
