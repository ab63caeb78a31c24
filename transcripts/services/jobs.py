"""A job's life: taken in from an upload, handed to the backend, claimed and leased by a
local dispatcher, settled by its one outcome, retried, cancelled, reviewed, deleted.

Forward-only: queued < submitted < processing < completed | failed | expired | cancelled;
every state change is a conditional UPDATE, so the first terminal state wins and a repeated
outcome changes nothing. Inside Django a job is named by its primary key (`job_pk`); its
public id is what the outside world sees (URLs, the API, SageMaker, DynamoDB)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import live
from ..backends import Gateway, JobRequest, Receipt, SubmitFailed, get_backend
from ..media_check import NotAudio, check_audio
from ..models import RANK, TERMINAL, Job, Status, TranscriptVersion, UploadRecord
from ..quality import quality_flags
from ..speakers import machine_speakers
from .limits import UploadRefused, upload_check_queue, upload_check_quota
from .progress import job_progress_clear, job_progress_restart_note
from .transcripts import machine_segments
from .webhooks import webhook_event_enqueue

log = logging.getLogger(__name__)
CANCELLABLE = (Status.QUEUED, Status.SUBMITTED)
DECISIONS = ("approved", "rejected")
CLAIM_CANDIDATES = 5  # jobs looked at per claim, in case others win the first ones


@dataclass(frozen=True)
class Outcome:
    """How a job ended: completed with the model's result (stored under `output_name`), or
    failed / expired with a reason a person can read."""

    status: Status
    result: dict[str, Any] | None = None
    output_name: str = ""
    failure_reason: str = ""

    @classmethod
    def completed(cls, *, result: dict[str, Any], output_name: str) -> Outcome:
        return cls(Status.COMPLETED, result=result, output_name=output_name)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(Status.FAILED, failure_reason=reason)

    @classmethod
    def expired(cls, reason: str) -> Outcome:
        return cls(Status.EXPIRED, failure_reason=reason)


# ---------------------------------------------------------------- taking a job in

def job_accept_upload(*, owner: Any, upload: Any, options: dict[str, Any]) -> Job:
    """The checks every way in shares (web page, REST API, OpenAI-compatible endpoint):
    the service's queue, the person's quotas, the file's size, that it holds audio and fits
    in the audio time left; then the job is queued."""
    name = os.path.basename((upload.name or "upload").replace("\\", "/")) or "upload"
    upload_check_queue(name=name)
    upload_check_quota(owner=owner, name=name)
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise UploadRefused(f"{name}: the file is larger than the upload limit of "
                            f"{settings.UPLOAD_MAX_BYTES / 1024**2:.0f} MB", status=413)
    if upload.size == 0:
        raise UploadRefused(f"{name}: the file is empty")
    try:
        seconds = check_audio(upload.temporary_file_path())
    except NotAudio as exc:
        raise UploadRefused(f"{name}: {exc}") from None
    if seconds is not None:
        upload_check_quota(owner=owner, name=name, audio_seconds=seconds)
    return job_create(owner=owner, upload=upload, original_name=name, options=options,
                      audio_seconds=seconds)


def job_create(*, owner: Any, upload: File[Any], original_name: str, options: dict[str, Any],
               audio_seconds: float | None = None) -> Job:
    """Store the upload under a random name, note it in the quota ledger, queue the job."""
    with transaction.atomic():
        job = Job(owner=owner, original_name=original_name[:255], options=options,
                  size_bytes=upload.size, progress_duration=audio_seconds)
        job.audio.save("upload", upload, save=False)
        job.save()
        UploadRecord.objects.create(owner=owner, job=job, at=job.created_at, size_bytes=job.size_bytes,
                                    audio_seconds=audio_seconds)
        job_submit(job=job)
    return job


def job_submit(*, job: Job) -> None:
    """Hand the job to the configured backend once it is committed."""
    gateway = get_backend()
    request = JobRequest(public_id=job.public_id, audio_name=job.audio.name or "", options=job.options)
    job_pk = job.pk
    transaction.on_commit(lambda: _hand_over(gateway, request, job_pk))
    live.job_changed_on_commit(job_pk)


def _hand_over(gateway: Gateway, request: JobRequest, job_pk: int) -> None:
    try:
        receipt = gateway.submit(request)
    except SubmitFailed as exc:
        job_record_outcome(job_pk=job_pk, outcome=Outcome.failed(str(exc)))
        return
    if receipt is not None:
        job_mark_submitted(job_pk=job_pk, receipt=receipt)


def job_mark_submitted(*, job_pk: int, receipt: Receipt) -> bool:
    """The job was handed to the backend; remember where its outcome will appear, so that
    a job whose notification is lost can still be settled."""
    updated = Job.objects.filter(pk=job_pk, rank__lt=RANK[Status.SUBMITTED]).update(
        status=Status.SUBMITTED, rank=RANK[Status.SUBMITTED], submitted_at=timezone.now(),
        remote_output=receipt.output_location, remote_failure=receipt.failure_location)
    if updated:
        live.job_changed_on_commit(job_pk)
    return bool(updated)


# ---------------------------------------------------------------- the local queue

def job_claim_next(*, lease_seconds: int) -> Job | None:
    """Take the oldest job that is waiting, or whose dispatcher stopped renewing its lease
    (it was killed mid-job). The conditional UPDATE means two dispatchers never both win."""
    now = timezone.now()
    ready = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    waiting = (Status.QUEUED, Status.PROCESSING)
    candidates = (Job.objects.filter(ready, status__in=waiting)
                  .order_by("created_at", "id").values_list("pk", flat=True)[:CLAIM_CANDIDATES])
    for pk in candidates:
        claimed = (Job.objects.filter(ready, pk=pk, status__in=waiting)
                   .update(status=Status.PROCESSING, rank=RANK[Status.PROCESSING],
                           lease_until=now + timedelta(seconds=lease_seconds),
                           started_at=Coalesce(F("started_at"), now), attempts=F("attempts") + 1,
                           run=F("run") + 1))
        if claimed:
            job = Job.objects.get(pk=pk)
            live.job_changed(job)
            return job
    return None


def job_renew_lease(*, job_pk: int, lease_seconds: int) -> None:
    Job.objects.filter(pk=job_pk, status=Status.PROCESSING).update(
        lease_until=timezone.now() + timedelta(seconds=lease_seconds))


def job_requeue(*, job_pk: int, delay_seconds: float, reason: str, count_attempt: bool) -> None:
    """Put a job back in the queue after an attempt that never produced an outcome (the
    model server was unreachable or answered 5xx); it is not claimed again before the delay.
    An attempt that never reached the model server does not count against the job."""
    log.info("job %s waits %.0f s: %s", job_pk, delay_seconds, reason)
    with transaction.atomic():
        updated = Job.objects.filter(pk=job_pk, status=Status.PROCESSING).update(
            status=Status.QUEUED, rank=RANK[Status.QUEUED],
            attempts=F("attempts") - (0 if count_attempt else 1),
            lease_until=timezone.now() + timedelta(seconds=delay_seconds))
        if updated:
            job_progress_restart_note(job_pk=job_pk, reason=reason)
            live.job_changed_on_commit(job_pk)


def job_store_output(*, job: Job, result: dict[str, Any]) -> str:
    """Write the model's result JSON next to the audio; returns its storage name."""
    name = f"outputs/{job.public_id.hex[:2]}/{job.public_id.hex}.json"
    if default_storage.exists(name):
        default_storage.delete(name)
    return str(default_storage.save(name, ContentFile(json.dumps(result).encode("utf-8"))))


# ---------------------------------------------------------------- outcomes

def job_record_outcome(*, job_pk: int, outcome: Outcome) -> bool:
    """The one place where outcomes land, from either backend. Forward-only: the first
    terminal outcome wins and a duplicate returns False without changing anything. The
    caller brings the result; nothing is read here but the one UPDATE."""
    if outcome.status not in TERMINAL:
        raise ValueError(f"{outcome.status!r} is not an outcome")
    fields: dict[str, Any] = {"status": outcome.status, "rank": RANK[outcome.status],
                              "finished_at": timezone.now(), "lease_until": None}
    result = outcome.result
    if outcome.status == Status.COMPLETED:
        if result is None:
            raise ValueError("a completed outcome carries the model's result")
        options = result.get("options") or {}
        fields.update(
            output_name=outcome.output_name,
            transcript_text=result.get("text", ""),
            duration=result.get("duration"),
            language=result.get("language", ""),
            made_with={**result.get("model", {}), "options": options},
            failure_reason="",
            quality_flags=quality_flags(result, options.get("language")),
        )
    else:
        fields["failure_reason"] = outcome.failure_reason or "the transcription did not finish"
    with transaction.atomic():
        updated = Job.objects.filter(pk=job_pk).exclude(status__in=TERMINAL).update(**fields)
        if updated:
            job_progress_clear(job_pk=job_pk)  # the result replaces the partial transcript
            if result is not None and outcome.status == Status.COMPLETED:
                TranscriptVersion.objects.create(job_id=job_pk, number=0,
                                                 segments=machine_segments(result),
                                                 speakers=machine_speakers(result))
                if result.get("duration") is not None:  # ffprobe could not say at upload
                    UploadRecord.objects.filter(job_id=job_pk, audio_seconds__isnull=True).update(
                        audio_seconds=result["duration"])
            transaction.on_commit(lambda: _announce_outcome(job_pk), robust=True)
    if not updated:
        log.info("outcome %s for job %s ignored: it already has one (or is gone)",
                 outcome.status, job_pk)
    return bool(updated)


def job_count_outcome_try(*, job_pk: int) -> int:
    """An outcome reached us for this job but could not be recorded this round (AWS: its
    result object unreadable, say). Returns the rounds counted so far; 0 for a job that has
    an outcome already (or is gone)."""
    Job.objects.filter(pk=job_pk).exclude(status__in=TERMINAL).update(
        outcome_tries=F("outcome_tries") + 1)
    tries = (Job.objects.filter(pk=job_pk).exclude(status__in=TERMINAL)
             .values_list("outcome_tries", flat=True).first())
    return tries or 0


def _announce_outcome(job_pk: int) -> None:
    job = Job.objects.filter(pk=job_pk).first()
    if job is not None:
        live.job_changed(job)
        webhook_event_enqueue(job=job)


# ---------------------------------------------------------------- a person's requests

def job_retry(*, job: Job) -> bool:
    """A person asks again for a failed or expired job: back to the queue, attempts reset."""
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=(Status.FAILED, Status.EXPIRED)).update(
            status=Status.QUEUED, rank=RANK[Status.QUEUED], failure_reason="", attempts=0,
            lease_until=None, started_at=None, finished_at=None)
        if updated:
            job_progress_clear(job_pk=job.pk)
            job.refresh_from_db()
            job_submit(job=job)
    return bool(updated)


def job_delete(*, job: Job) -> None:
    """Remove the job and its stored files; the files go only once the row is gone."""
    names = [n for n in (job.audio.name, job.output_name) if n]
    owner_pk, public_id = job.owner_id, job.public_id
    with transaction.atomic():
        job.delete()
        transaction.on_commit(lambda: _delete_files(names))
        live.job_deleted_on_commit(owner_pk=owner_pk, public_id=public_id)


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not delete %s; it stays until the retention clean-up", name)


# ---------------------------------------------------------------- staff

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
            job_progress_clear(job_pk=job.pk)
            live.job_changed_on_commit(job.pk)
    return bool(updated)


def job_mark_reviewed(*, job: Job, reviewer: Any) -> bool:
    """A reviewer looked at a completed transcript without deciding. Does not undo a decision:
    an approved or rejected job stays so (returns False)."""
    updated = Job.objects.filter(pk=job.pk, status=Status.COMPLETED, review__in=("", "reviewed")).update(
        review="reviewed", reviewed_by=reviewer, reviewed_at=timezone.now())
    return bool(updated)


def job_review(*, job: Job, reviewer: Any, decision: str, note: str = "") -> bool:
    """Approve or reject a completed transcript, with an optional note saying why. A later
    decision replaces an earlier one (the reviewer changed their mind); returns False for a
    job that is not completed."""
    if decision not in DECISIONS:
        raise ValueError(f"a review decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    updated = Job.objects.filter(pk=job.pk, status=Status.COMPLETED).update(
        review=decision, review_note=note.strip(), reviewed_by=reviewer, reviewed_at=timezone.now())
    return bool(updated)
