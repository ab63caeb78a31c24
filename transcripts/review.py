"""Staff writes on jobs: cancel one that has not run yet, and review finished transcripts.
Same rules as services.py: keyword-only, conditional UPDATEs (a second click, or a click
racing a dispatcher or an outcome, changes nothing and returns False), broadcasts on commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from . import services
from .models import RANK, Job, Status

CANCELLABLE = (Status.QUEUED, Status.SUBMITTED)
DECISIONS = ("approved", "rejected")


def job_cancel(*, job: Job) -> bool:
    """A queued or submitted job becomes cancelled; a job already running or finished is
    left alone (returns False).

    Local backend: the dispatcher only claims queued jobs, so a cancelled one never runs.
    AWS backend: a submitted job cannot be withdrawn from SageMaker (there is no API to take
    back an InvokeEndpointAsync request); it may still be transcribed and billed. Cancelling
    only marks it, so that its late outcome is ignored, which the forward-only outcomes
    already guarantee: cancelled is terminal and job_record_outcome never overwrites a
    terminal state, and the outcome sync stops polling for it. Its output, if any, stays in
    the bucket until the bucket's lifecycle rule removes it."""
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=CANCELLABLE).update(
            status=Status.CANCELLED, rank=RANK[Status.CANCELLED], finished_at=timezone.now(),
            lease_until=None, failure_reason="cancelled by an administrator")
        if updated:
            services._broadcast_on_commit(job.pk)
    return bool(updated)


def job_mark_reviewed(*, job: Job, reviewer) -> bool:
    """A reviewer looked at a completed transcript without deciding. Does not undo a decision:
    an approved or rejected job stays so (returns False)."""
    updated = Job.objects.filter(pk=job.pk, status=Status.COMPLETED, review__in=("", "reviewed")).update(
        review="reviewed", reviewed_by=reviewer, reviewed_at=timezone.now())
    return bool(updated)


def job_review(*, job: Job, reviewer, decision: str, note: str = "") -> bool:
    """Approve or reject a completed transcript, with an optional note saying why. A later
    decision replaces an earlier one (the reviewer changed their mind); returns False for a
    job that is not completed."""
    if decision not in DECISIONS:
        raise ValueError(f"a review decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    updated = Job.objects.filter(pk=job.pk, status=Status.COMPLETED).update(
        review=decision, review_note=note.strip(), reviewed_by=reviewer, reviewed_at=timezone.now())
    return bool(updated)
