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
    CANCELLED = "cancelled", "Cancelled"


# Forward-only: a job only moves to a higher rank; the first terminal state wins.
RANK = {Status.QUEUED: 0, Status.SUBMITTED: 1, Status.PROCESSING: 2,
        Status.COMPLETED: 3, Status.FAILED: 3, Status.EXPIRED: 3, Status.CANCELLED: 3}
TERMINAL = (Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CANCELLED)


def audio_upload_to(job: Job, filename: str) -> str:
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
    # Rounds in which the AWS outcome sync found this job's outcome but could not record it
    # (its result unreadable...): after settings.OUTCOME_READ_TRIES the job fails with the reason.
    outcome_tries = models.PositiveSmallIntegerField(default=0)
    submitted_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    transcript_text = models.TextField(blank=True)
    made_with = models.JSONField(default=dict, blank=True)  # engine, model, device, options
    # Quality checks on the result ([{"code", "reason"}]): what a reviewer should look at.
    quality_flags = models.JSONField(default=list, blank=True)
    review = models.CharField(max_length=16, blank=True, choices=[
        ("reviewed", "Reviewed"), ("approved", "Approved"), ("rejected", "Rejected")])
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Progress while it runs (transcripts/progress.py, services/progress.py). Each claim by a
    # dispatcher starts the next run; reports carry their run, so a late report of a run
    # that was given up changes nothing.
    run = models.PositiveIntegerField(default=0)
    progress_run = models.PositiveIntegerField(default=0)  # the run the fields below belong to
    progress_stage = models.CharField(max_length=32, blank=True)
    progress_seconds = models.FloatField(null=True, blank=True)  # seconds of audio done
    progress_duration = models.FloatField(null=True, blank=True)  # the recording's, when known
    progress_at = models.DateTimeField(null=True, blank=True)  # when the last report landed
    # The run's first report while transcribing, when and how far: its speed is measured
    # from there.
    progress_since = models.DateTimeField(null=True, blank=True)
    progress_since_seconds = models.FloatField(null=True, blank=True)
    # An earlier run got this far before it stopped: shown, with the note, until this run
    # passes it.
    progress_kept_seconds = models.FloatField(null=True, blank=True)
    progress_note = models.CharField(max_length=300, blank=True)

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
    segments = models.JSONField()  # [{"id", "start", "end", "text", "words"?, "speaker"?}]
    # Who speaks (transcripts/speakers.py): [{"id", "label", "name"?, "channel"?, "seconds"}];
    # empty when the job was not asked for speakers. Names people give live only here.
    speakers = models.JSONField(default=list, blank=True)
    # What this version changed, in a few words ("Speaker 2 named Dr. Lee").
    summary = models.CharField(max_length=300, blank=True)
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


class PartialTranscript(models.Model):
    """The segments a running job has so far, as the model server reported them; the
    machine transcript replaces them when the job completes."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="partial")
    segments = models.JSONField(default=list)  # [{"id", "start", "end", "text"}], the current run's
    # An earlier run's, shown instead while Job.progress_kept_seconds is set.
    kept_segments = models.JSONField(default=list)
    # The current run's segments before this point are settled: no later report of the run
    # changes them (the contract's `segments_from` never decreases). Streams follow these.
    settled_before = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.job_id} ({len(self.segments)} segments so far)"


class ApiToken(models.Model):
    """A person's key for the REST API. Only a hash is kept: the key is shown once."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)  # the key's start, to tell tokens apart
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Webhook(models.Model):
    """Where a person wants to hear about their finished jobs, signed with a secret."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)  # webhook_targets.MAX_URL_CHARS
    secret = models.CharField(max_length=64)  # signs the events; shown to the person once
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook, tried until delivered or out of attempts."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due")]


class ReviewQueueJob(Job):
    """The admin's review queue: completed jobs with quality flags and no review yet."""

    class Meta:
        proxy = True
        verbose_name = "job to review"
        verbose_name_plural = "review queue"


class UploadRecord(models.Model):
    """One accepted upload, in the ledger the per-person quotas count (docs/security.md).
    Deleting the job keeps the record (the job link becomes empty), so deleting and
    uploading again does not get around a quota."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(db_index=True)
    size_bytes = models.BigIntegerField(default=0)
    # ffprobe's duration at upload; when it was unknown, the result's once the outcome lands.
    audio_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["owner", "at"], name="upload_record_owner_at")]

    def __str__(self) -> str:
        return f"{self.owner_id} at {self.at:%Y-%m-%d %H:%M}"


class LoginAttempt(models.Model):
    """A log-in attempt that has not (yet) succeeded, counted per account and per client
    address to slow password guessing. Written before the password is checked, so that
    parallel guesses count too; a successful log-in removes the account's attempts."""

    username = models.CharField(max_length=150)  # as typed, lower-cased
    address = models.CharField(max_length=64)  # the client's IP address (IPv6: its /64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["username", "at"], name="login_attempt_user"),
                   models.Index(fields=["address", "at"], name="login_attempt_address")]

    def __str__(self) -> str:
        return f"{self.username} from {self.address}"


class Invite(models.Model):
    """A single-use code a staff member gives someone so they can sign up when
    SIGNUP_MODE=invite."""

    code = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for (only staff see this).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or self.code[:8]
