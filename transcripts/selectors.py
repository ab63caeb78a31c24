"""Reads, always scoped to the person asking: another person's job does not exist."""

from __future__ import annotations

import json

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from .models import Job, Status
from .search import search


def jobs_for_user(user, *, status: str | None = None, query: str | None = None) -> QuerySet[Job]:
    jobs = Job.objects.filter(owner=user)
    if status in Status.values:
        jobs = jobs.filter(status=status)
    if query:
        jobs = search(jobs, query)
    return jobs.only("public_id", "owner_id", "original_name", "status", "duration", "language",
                     "created_at", "finished_at", "failure_reason")


def job_for_user(user, public_id) -> Job:
    job = Job.objects.filter(owner=user, public_id=public_id).first() if user.is_authenticated else None
    if job is None:
        raise Http404("No such job")
    return job


def job_result(job: Job) -> dict | None:
    """The model's result JSON for a completed job."""
    if job.status != Status.COMPLETED or not job.output_name:
        return None
    with default_storage.open(job.output_name) as stored:
        return json.load(stored)


def job_summary(job: Job) -> dict:
    """What the dashboard shows of a job, for the page and the websocket alike."""
    return {
        "public_id": str(job.public_id),
        "url": reverse("job-detail", args=[job.public_id]),
        "original_name": job.original_name,
        "status": job.status,
        "status_label": Status(job.status).label,
        "duration": job.duration,
        "language": job.language,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "failure_reason": job.failure_reason,
    }
