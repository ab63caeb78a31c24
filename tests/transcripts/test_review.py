"""Staff writes: cancelling jobs that have not run, and reviewing finished transcripts."""

from __future__ import annotations

import pytest

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import live, services
from transcripts.models import Job, Status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("rita", password="rita-secret-1", is_staff=True)


@pytest.fixture
def sent(monkeypatch):
    messages = []
    monkeypatch.setattr(live, "_send", lambda group, message: messages.append((group, message)))
    return messages


def fresh(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SUBMITTED])
def test_a_waiting_job_is_cancelled_once_and_its_owner_hears_of_it(alice, make_job, sent, status):
    job = make_job(alice, status=status)
    assert services.job_cancel(job=job) is True
    cancelled = fresh(job)
    assert cancelled.status == Status.CANCELLED and cancelled.is_terminal
    assert cancelled.finished_at is not None and cancelled.failure_reason
    assert sent[-1][0] == f"user-{alice.pk}" and sent[-1][1]["job"]["status"] == "cancelled"
    assert services.job_cancel(job=job) is False  # a second click changes nothing


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.COMPLETED, Status.FAILED,
                                    Status.EXPIRED])
def test_a_running_or_finished_job_is_not_cancelled(alice, make_job, status):
    job = make_job(alice, status=status, text="kept as it is")
    assert services.job_cancel(job=job) is False
    assert fresh(job).status == status


def test_a_cancelled_job_is_never_claimed_and_its_late_outcome_is_ignored(alice, make_job):
    job = make_job(alice)
    services.job_cancel(job=job)
    assert services.job_claim_next(lease_seconds=60) is None
    # On AWS the request may still run: SageMaker's late outcome must not revive the job.
    name = services.job_store_output(job=job, result=make_result("too late"))
    assert services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name)) is False
    assert fresh(job).status == Status.CANCELLED and fresh(job).transcript_text == ""


def test_a_completed_job_is_marked_reviewed_by_whom_and_when(alice, staff, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="hello")
    assert services.job_mark_reviewed(job=job, reviewer=staff) is True
    job = fresh(job)
    assert (job.review, job.reviewed_by, job.reviewed_at is not None) == ("reviewed", staff, True)


def test_only_completed_jobs_are_reviewed(alice, staff, make_job):
    for status in (Status.QUEUED, Status.FAILED):
        job = make_job(alice, status=status)
        assert services.job_mark_reviewed(job=job, reviewer=staff) is False
        assert services.job_review(job=job, reviewer=staff, decision="approved") is False
        assert fresh(job).review == ""


def test_approve_and_reject_keep_the_note_and_a_later_decision_replaces_one(alice, staff, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="hello")
    assert services.job_review(job=job, reviewer=staff, decision="approved", note="  fine  ") is True
    assert (fresh(job).review, fresh(job).review_note) == ("approved", "fine")
    assert services.job_review(job=job, reviewer=staff, decision="rejected",
                             note="the names are wrong") is True
    assert (fresh(job).review, fresh(job).review_note) == ("rejected", "the names are wrong")


def test_marking_reviewed_does_not_undo_a_decision(alice, staff, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="hello")
    services.job_review(job=job, reviewer=staff, decision="rejected", note="wrong language")
    assert services.job_mark_reviewed(job=job, reviewer=staff) is False
    assert fresh(job).review == "rejected"


def test_a_decision_is_approved_or_rejected(alice, staff, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="hello")
    with pytest.raises(ValueError, match="approved, rejected"):
        services.job_review(job=job, reviewer=staff, decision="maybe")
