"""A transcription job: what was uploaded, where it stands, what came out."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


# Forward-only: a job only moves to a higher rank; the first terminal state wins.
RANK = {Status.QUEUED: 0, Status.SUBMITTED: 1, Status.PROCESSING: 2,
        Status.COMPLETED: 3, Status.FAILED: 3, Status.EXPIRED: 3}
TERMINAL = (Status.COMPLETED, Status.FAILED, Status.EXPIRED)


def audio_upload_to(job: "Job", filename: str) -> str:
    # Server-side random names: the person's file name is only ever displayed. The same
    # inputs/ and outputs/ layout serves the media folder and the S3 bucket.
    return f"inputs/{job.public_id.hex[:2]}/{job.public_id.hex}"


class Job(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    original_name = models.CharField(max_length=255)
    audio = models.FileField(upload_to=audio_upload_to, max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rank = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)  # a dispatcher is working on it
    failure_reason = models.TextField(blank=True)

    output_name = models.CharField(max_length=255, blank=True)  # storage name of the result JSON
    # Where SageMaker will write the result or the error (AWS backend), known at submission,
    # so that a job whose notification was lost can still be settled.
    remote_output = models.CharField(max_length=512, blank=True)
    remote_failure = models.CharField(max_length=512, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    transcript_text = models.TextField(blank=True)
    made_with = models.JSONField(default=dict, blank=True)  # engine, model, device, options

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="job_owner_newest"),
            models.Index(fields=["owner", "status", "-created_at"], name="job_owner_status"),
            models.Index(fields=["status", "created_at"], name="job_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class TranscriptVersion(models.Model):
    """One version of a job's transcript. Number 0 is the machine's, made when the job
    completes; each save by a person adds the next number, so nothing is ever overwritten
    and any version can be brought back (which itself adds a version)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    segments = models.JSONField()  # [{"id", "start", "end", "text", "words"?}]
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="one_number_per_job")]

    def __str__(self) -> str:
        return f"{self.job_id} v{self.number}"

    @property
    def is_machine(self) -> bool:
        return self.number == 0
