"""Every write and side effect on jobs. Keyword-only functions; state changes are
conditional UPDATEs so a repeated or late outcome is harmless; broadcasts and backend
calls run after the transaction commits."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import RANK, TERMINAL, Job, Status, TranscriptVersion
from .quality import quality_flags
from .webhooks import enqueue_job_event

log = logging.getLogger(__name__)
DISPATCHER_GROUP = "dispatcher"


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def job_create(*, owner, upload, original_name: str, options: dict) -> Job:
    """Store the upload under a random name and queue the job."""
    with transaction.atomic():
        job = Job(owner=owner, original_name=original_name[:255], options=options,
                  size_bytes=upload.size)
        job.audio.save("upload", upload, save=False)
        job.save()
        job_submit(job=job)
    return job


def job_submit(*, job: Job) -> None:
    """Hand the job to the configured backend once it is committed."""
    from .backends import get_backend

    backend = get_backend()
    transaction.on_commit(lambda: backend.submit(job))
    _broadcast_on_commit(job.pk)


def job_mark_submitted(*, job_id: int, remote_output: str = "", remote_failure: str = "") -> bool:
    """The job was handed to SageMaker; remember where its outcome will appear."""
    updated = Job.objects.filter(pk=job_id, rank__lt=RANK[Status.SUBMITTED]).update(
        status=Status.SUBMITTED, rank=RANK[Status.SUBMITTED], submitted_at=timezone.now(),
        remote_output=remote_output, remote_failure=remote_failure)
    if updated:
        _broadcast_now(job_id)
    return bool(updated)


def job_claim_next(*, lease_seconds: int) -> Job | None:
    """Take the oldest job that is waiting, or whose dispatcher stopped renewing its lease
    (it was killed mid-job). The conditional UPDATE means two dispatchers never both win."""
    now = timezone.now()
    ready = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    candidates = (Job.objects.filter(ready, status__in=(Status.QUEUED, Status.PROCESSING))
                  .order_by("created_at", "id").values_list("pk", flat=True)[:5])
    for pk in candidates:
        claimed = (Job.objects.filter(ready, pk=pk, status__in=(Status.QUEUED, Status.PROCESSING))
                   .update(status=Status.PROCESSING, rank=RANK[Status.PROCESSING],
                           lease_until=now + timedelta(seconds=lease_seconds),
                           started_at=Coalesce(F("started_at"), now), attempts=F("attempts") + 1))
        if claimed:
            _broadcast_now(pk)
            return Job.objects.get(pk=pk)
    return None


def job_renew_lease(*, job_id: int, lease_seconds: int) -> None:
    Job.objects.filter(pk=job_id, status=Status.PROCESSING).update(
        lease_until=timezone.now() + timedelta(seconds=lease_seconds))


def job_requeue(*, job_id: int, delay_seconds: float, reason: str, count_attempt: bool) -> None:
    """Put a job back in the queue after an attempt that never produced an outcome (the
    model server was unreachable or answered 5xx); it is not claimed again before the delay.
    An attempt that never reached the model server does not count against the job."""
    log.info("job %s waits %.0f s: %s", job_id, delay_seconds, reason)
    updated = Job.objects.filter(pk=job_id, status=Status.PROCESSING).update(
        status=Status.QUEUED, rank=RANK[Status.QUEUED],
        attempts=F("attempts") - (0 if count_attempt else 1),
        lease_until=timezone.now() + timedelta(seconds=delay_seconds))
    if updated:
        _broadcast_now(job_id)


def job_store_output(*, job: Job, result: dict) -> str:
    """Write the model's result JSON next to the audio; returns its storage name."""
    name = f"outputs/{job.public_id.hex[:2]}/{job.public_id.hex}.json"
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(json.dumps(result).encode("utf-8")))


def job_record_outcome(*, public_id, status: str, output_name: str = "", result: dict | None = None,
                       failure_reason: str = "") -> bool:
    """The one place where outcomes land, from either backend. Forward-only: the first
    terminal outcome wins and a duplicate returns False without changing anything."""
    if status not in TERMINAL:
        raise ValueError(f"{status!r} is not an outcome")
    fields = {"status": status, "rank": RANK[status], "finished_at": timezone.now(),
              "lease_until": None}
    if status == Status.COMPLETED:
        if result is None:
            with default_storage.open(output_name) as stored:
                result = json.load(stored)
        fields.update(
            output_name=output_name,
            transcript_text=result.get("text", ""),
            duration=result.get("duration"),
            language=result.get("language", ""),
            made_with={**result.get("model", {}), "options": result.get("options", {})},
            failure_reason="",
            quality_flags=quality_flags(result, (result.get("options") or {}).get("language")),
        )
    else:
        fields["failure_reason"] = failure_reason or "the transcription did not finish"
    with transaction.atomic():
        updated = Job.objects.filter(public_id=public_id).exclude(status__in=TERMINAL).update(**fields)
        if updated:
            pk = Job.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
            if status == Status.COMPLETED:
                TranscriptVersion.objects.create(job_id=pk, number=0,
                                                 segments=machine_segments(result))
            _broadcast_on_commit(pk)
            transaction.on_commit(lambda: enqueue_job_event(pk), robust=True)
    if not updated:
        log.info("outcome %s for job %s ignored: it already has one (or is gone)", status, public_id)
    return bool(updated)


def machine_segments(result: dict) -> list[dict]:
    """The parts of the model's segments a transcript version keeps."""
    keep = ("id", "start", "end", "text", "words")
    return [{k: segment[k] for k in keep if k in segment} for segment in result.get("segments", [])]


class EditConflict(Exception):
    """The transcript changed since the person started editing."""


def transcript_save_segment(*, job: Job, author, segment_id: int, text: str,
                            base_number: int) -> TranscriptVersion:
    """A person's correction of one segment becomes the next version. `base_number` is the
    version they edited; if another save came first, nothing is written (EditConflict)."""
    text = " ".join(text.split())
    with transaction.atomic():
        current = _current_version_for_update(job)
        if current.number != base_number:
            raise EditConflict(f"version {current.number} was saved while you edited version "
                               f"{base_number}; reload to see it")
        segments = [dict(s) for s in current.segments]
        matches = [s for s in segments if s["id"] == segment_id]
        if not matches:
            raise ValueError(f"this transcript has no segment {segment_id}")
        segment = matches[0]
        if segment["text"].strip() == text:
            return current  # nothing changed: no new version
        segment["text"] = text
        segment.pop("words", None)  # the machine's word timings no longer match the text
        return _new_version(job, segments, author=author, restored_from=None)


def transcript_restore(*, job: Job, author, number: int) -> TranscriptVersion:
    """Bring back an earlier version as the newest one; history keeps everything."""
    with transaction.atomic():
        _current_version_for_update(job)
        source = job.versions.filter(number=number).first()
        if source is None:
            raise ValueError(f"this transcript has no version {number}")
        return _new_version(job, source.segments, author=author, restored_from=number)


def _current_version_for_update(job: Job) -> TranscriptVersion:
    # Lock the job row: two saves of the same transcript take turns (SQLite locks the
    # database for the transaction anyway).
    Job.objects.select_for_update().filter(pk=job.pk).first()
    current = job.versions.order_by("-number").first()
    if current is None:
        raise ValueError("this job has no transcript yet")
    return current


def _new_version(job: Job, segments: list[dict], *, author, restored_from) -> TranscriptVersion:
    latest = job.versions.order_by("-number").values_list("number", flat=True).first()
    version = TranscriptVersion.objects.create(job=job, number=latest + 1, segments=segments,
                                               author=author, restored_from=restored_from)
    # The job's text follows the newest version, so search finds the corrections.
    Job.objects.filter(pk=job.pk).update(
        transcript_text=" ".join(s["text"].strip() for s in segments if s["text"].strip()))
    return version


def job_retry(*, job: Job) -> bool:
    """A person asks again for a failed or expired job: back to the queue, attempts reset."""
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=(Status.FAILED, Status.EXPIRED)).update(
            status=Status.QUEUED, rank=RANK[Status.QUEUED], failure_reason="", attempts=0,
            lease_until=None, started_at=None, finished_at=None)
        if updated:
            job.refresh_from_db()
            job_submit(job=job)
    return bool(updated)


def job_delete(*, job: Job) -> None:
    """Remove the job and its stored files; the files go only once the row is gone."""
    names = [n for n in (job.audio.name, job.output_name) if n]
    owner_id, public_id = job.owner_id, str(job.public_id)
    with transaction.atomic():
        job.delete()
        transaction.on_commit(lambda: _delete_files(names))
        transaction.on_commit(lambda: _send(user_group(owner_id),
                                            {"type": "job.deleted", "public_id": public_id}))


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not delete %s; it stays until the retention clean-up", name)


def _broadcast_on_commit(pk: int) -> None:
    transaction.on_commit(lambda: _broadcast_now(pk))


def _broadcast_now(pk: int) -> None:
    from .selectors import job_summary

    job = Job.objects.filter(pk=pk).first()
    if job is not None:
        _send(user_group(job.owner_id), {"type": "job.update", "job": job_summary(job)})


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a live update is a courtesy: never fail the write for it
        log.exception("could not broadcast to %s", group)
