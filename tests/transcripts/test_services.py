"""Job state changes: forward-only outcomes, claims, leases, retries, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import services
from transcripts.models import Job, Status
from transcripts.services import Outcome

pytestmark = pytest.mark.django_db(transaction=True)


def test_completed_outcome_fills_the_job_and_a_duplicate_changes_nothing(alice, make_job):
    job = make_job(alice)
    result = make_result("Please send the report")
    name = services.job_store_output(job=job, result=result)
    assert services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name)) is True
    job.refresh_from_db()
    assert (job.status, job.transcript_text, job.duration, job.language) == \
        ("completed", "Please send the report", 2.5, "en")
    assert job.made_with["engine"] == "faster-whisper" and job.finished_at is not None
    finished = job.finished_at
    # SNS and the dispatcher may deliver twice: the second is a no-op, not an error.
    assert services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name)) is False
    job.refresh_from_db()
    assert job.finished_at == finished


def test_the_first_terminal_outcome_wins(alice, make_job):
    job = make_job(alice)
    services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed("no audio"))
    late = services.job_store_output(job=job, result=make_result("late words"))
    assert services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(late)) is False
    job.refresh_from_db()
    assert job.status == "failed" and job.failure_reason == "no audio" and job.transcript_text == ""


def test_a_state_that_is_not_an_outcome_is_refused(alice, make_job):
    with pytest.raises(ValueError):
        services.job_record_outcome(job_pk=make_job(alice).pk, outcome=Outcome(Status.PROCESSING))


def test_claims_take_the_oldest_waiting_job_once(alice, bob, make_job):
    first, second = make_job(alice), make_job(bob)
    claimed = services.job_claim_next(lease_seconds=60)
    assert claimed.pk == first.pk and claimed.status == "processing" and claimed.attempts == 1
    assert services.job_claim_next(lease_seconds=60).pk == second.pk
    assert services.job_claim_next(lease_seconds=60) is None  # both are leased


def test_a_job_whose_dispatcher_died_is_claimed_again(alice, make_job):
    job = make_job(alice)
    services.job_claim_next(lease_seconds=60)
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    again = services.job_claim_next(lease_seconds=60)
    assert again.pk == job.pk and again.attempts == 2


def test_a_requeued_job_waits_out_its_delay(alice, make_job):
    job = make_job(alice)
    services.job_claim_next(lease_seconds=60)
    services.job_requeue(job_pk=job.pk, delay_seconds=30, reason="model server down",
                         count_attempt=False)
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 0
    assert services.job_claim_next(lease_seconds=60) is None
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.job_claim_next(lease_seconds=60).pk == job.pk


def test_retry_puts_a_failed_job_back_in_the_queue(alice, make_job):
    job = make_job(alice, status=Status.FAILED)
    assert services.job_retry(job=job) is True
    job.refresh_from_db()
    assert (job.status, job.failure_reason, job.attempts) == ("queued", "", 0)
    assert services.job_retry(job=job) is False  # only failed or expired jobs


def test_delete_removes_the_job_and_its_files(alice, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="words")
    names = [job.audio.name, job.output_name]
    assert all(default_storage.exists(n) for n in names)
    services.job_delete(job=job)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not any(default_storage.exists(n) for n in names)


def test_uploads_are_stored_under_random_names(alice, make_job):
    job = make_job(alice, name="../../etc/passwd; rm -rf.wav")
    assert job.audio.name.startswith("inputs/") and ".." not in job.audio.name
    assert job.public_id.hex in job.audio.name
