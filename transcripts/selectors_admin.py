"""Reads for the staff admin: across every person's jobs (unlike selectors.py, which is
always scoped to one person). The admin, its filters and its templates only display these."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from .models import Job, Status

IN_FLIGHT = (Status.SUBMITTED, Status.PROCESSING)
UNFINISHED = (Status.FAILED, Status.EXPIRED)

# Completed, flagged by the quality checks, and nobody has looked at it yet.
# quality_flags__0 is the list's first element: "the list is not empty" on every database.
NEEDS_REVIEW = Q(status=Status.COMPLETED, quality_flags__0__isnull=False, review="")
FLAGGED = Q(quality_flags__0__isnull=False)


def review_queue(jobs: QuerySet[Job] | None = None) -> QuerySet[Job]:
    """Jobs waiting for a reviewer, oldest first: they have waited longest. `jobs` narrows a
    given queryset (the admin's, of the ReviewQueueJob proxy) instead of all jobs."""
    jobs = Job.objects.all() if jobs is None else jobs
    return jobs.filter(NEEDS_REVIEW).select_related("owner").order_by("finished_at", "id")


def engines() -> list[str]:
    """The engines that made the completed jobs, for the admin's filter."""
    found = (Job.objects.filter(made_with__engine__isnull=False)
             .values_list("made_with__engine", flat=True).distinct())
    return sorted({str(e) for e in found if e})


def job_timings(job: Job, *, now: datetime | None = None) -> dict[str, Any]:
    """Seconds the job spent waiting, being transcribed, and in all (None where unknown).

    Waiting ends when a dispatcher took the job (local) or it was handed to SageMaker (AWS);
    on AWS the time SageMaker queued it counts as processing, as nothing tells us when an
    instance picked it up. A job still waiting or running shows its time so far."""
    now = now or timezone.now()
    began = job.started_at or job.submitted_at
    queued = processing = total = None
    if job.created_at:
        if began:
            queued = _seconds(began - job.created_at)
        elif job.status == Status.QUEUED:
            queued = _seconds(now - job.created_at)
        end = job.finished_at or (None if job.is_terminal else now)
        total = _seconds(end - job.created_at) if end else None
    if began:
        end = job.finished_at or (None if job.is_terminal else now)
        processing = _seconds(end - began) if end else None
    return {"queued": queued, "processing": processing, "total": total,
            "running": not job.is_terminal}


def capacity(*, now: datetime | None = None) -> dict[str, Any]:
    """How much work is waiting and how fast it goes: the numbers of the capacity page."""
    now = now or timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    counts = Job.objects.aggregate(
        queued=Count("pk", filter=Q(status=Status.QUEUED)),
        in_flight=Count("pk", filter=Q(status__in=IN_FLIGHT)),
        failed_day=Count("pk", filter=Q(status__in=UNFINISHED, finished_at__gte=day)),
        completed_hour=Count("pk", filter=Q(status=Status.COMPLETED, finished_at__gte=hour)),
        completed_day=Count("pk", filter=Q(status=Status.COMPLETED, finished_at__gte=day)),
        audio_hour=Sum("duration", filter=Q(status=Status.COMPLETED, finished_at__gte=hour)),
        audio_day=Sum("duration", filter=Q(status=Status.COMPLETED, finished_at__gte=day)),
        oldest_queued=Min("created_at", filter=Q(status=Status.QUEUED)),
        needs_review=Count("pk", filter=NEEDS_REVIEW),
    )
    audio_hour, audio_day = counts["audio_hour"] or 0.0, counts["audio_day"] or 0.0
    oldest = counts["oldest_queued"]
    return {
        "queue_depth": counts["queued"],
        "oldest_queued_seconds": _seconds(now - oldest) if oldest else None,
        "in_flight": counts["in_flight"],
        "failures_last_day": counts["failed_day"],
        "completed_last_hour": counts["completed_hour"],
        "completed_last_day": counts["completed_day"],
        # Hours of audio transcribed per wall-clock hour: last hour, and averaged over the day.
        "audio_hours_per_hour_last_hour": audio_hour / 3600,
        "audio_hours_per_hour_last_day": audio_day / 3600 / 24,
        "audio_hours_last_day": audio_day / 3600,
        "needs_review": counts["needs_review"],
        "as_of": now,
    }


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)
