"""A running job's progress: the one place where reports land, from either backend (the
local dispatcher's stream, the AWS outcome sync's DynamoDB snapshots).

Forward-only within a run: a report with fewer seconds done than the last one is ignored,
and nothing is recorded once the job has its outcome (which replaces the partial transcript
whole). A new run (the job was claimed again after its worker stopped) starts from the
beginning; the earlier run's progress stays on show, with a note saying why, until the new
run passes it, so that progress never goes backwards on a page without a reason."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import live
from ..models import RANK, TERMINAL, Job, PartialTranscript, Status
from ..progress import QUEUED, STARTING_ENDPOINT, WAITING_FOR_MODEL, ProgressReport, apply_segments

log = logging.getLogger(__name__)
RESTARTED = "Restarted from the beginning after the worker stopped."
WEB_STAGES = (QUEUED, WAITING_FOR_MODEL, STARTING_ENDPOINT)
WRITE_TRIES = 3  # another writer came between our read and our write: read again
_FIELDS = ("status", "run", "progress_run", "progress_stage", "progress_seconds", "progress_duration",
           "progress_at", "progress_since", "progress_since_seconds", "progress_kept_seconds",
           "progress_note")


def job_record_progress(*, job_pk: int, report: ProgressReport, run: int | None = None) -> bool:
    """Apply one report to the job's progress and partial transcript; True when it changed
    something (the owner's pages then hear of it, at most about once a second). `run` is
    the run the report belongs to; None: the job's current run (the AWS backend, whose jobs
    run once)."""
    for _ in range(WRITE_TRIES):
        result = _apply(job_pk, report, run)
        if result is not None:
            return result
    log.warning("progress of job %s not recorded: other writers kept coming first", job_pk)
    return False


def _apply(job_pk: int, report: ProgressReport, run: int | None) -> bool | None:
    """One try: False when the report changes nothing, None when another write came first."""
    job = Job.objects.filter(pk=job_pk).only(*_FIELDS).first()
    if job is None or job.status in TERMINAL or job.status == Status.QUEUED:
        return False  # gone, settled, or back in the queue: this run is over
    run = job.run if run is None else run
    if run < job.run or run < job.progress_run:
        return False  # a run that was given up: its late reports change nothing
    partial = PartialTranscript.objects.filter(job_id=job_pk).first()
    segments = partial.segments if partial else []
    kept_segments = partial.kept_segments if partial else []
    seconds, kept_seconds, note = job.progress_seconds, job.progress_kept_seconds, job.progress_note
    since, since_seconds = job.progress_since, job.progress_since_seconds
    if run > job.progress_run:  # a new run starts from the beginning
        if seconds is not None and seconds > 0:  # the earlier run got somewhere: on show until passed
            if seconds >= (kept_seconds or 0):
                kept_seconds, kept_segments = seconds, segments
            note = note or RESTARTED
        seconds, segments, since, since_seconds = None, [], None, None
    elif seconds is not None and report.seconds_done < seconds:
        return False  # forward-only within a run
    new_segments = apply_segments(segments, report)
    duration = report.duration if report.duration is not None else job.progress_duration
    if (run == job.progress_run and report.stage == job.progress_stage and report.seconds_done == seconds
            and duration == job.progress_duration and new_segments == segments):
        return False  # a repeat (the AWS sync reads the same item every round)
    now = timezone.now()
    if report.stage == "transcribing" and since is None:
        since, since_seconds = now, report.seconds_done
    if kept_seconds is not None and report.seconds_done >= kept_seconds:
        kept_seconds, kept_segments, note = None, [], ""  # this run passed the earlier one
    fields: dict[str, Any] = {
        "progress_run": run, "progress_stage": report.stage, "progress_seconds": report.seconds_done,
        "progress_duration": duration, "progress_at": max(now, _after(job.progress_at)),
        "progress_since": since, "progress_since_seconds": since_seconds,
        "progress_kept_seconds": kept_seconds, "progress_note": note}
    if job.status == Status.SUBMITTED and report.stage not in WEB_STAGES:
        # On AWS the container's first report is the sign that the endpoint is working on it.
        fields.update(status=Status.PROCESSING, rank=RANK[Status.PROCESSING],
                      started_at=Coalesce(F("started_at"), now))
    with transaction.atomic():
        # The read above is the write's condition: a report another writer recorded meanwhile
        # (or an outcome) makes this UPDATE change nothing, and the report is read again.
        updated = Job.objects.filter(pk=job_pk, status=job.status, progress_run=job.progress_run,
                                     progress_at=job.progress_at).update(**fields)
        if not updated:
            return None
        settled = partial.settled_before if partial and run == job.progress_run else None
        if report.settled is not None:
            settled = max(settled or 0.0, report.settled)
        stored = (partial.segments, partial.kept_segments, partial.settled_before) if partial else ([], [], None)
        if stored != (new_segments, kept_segments, settled):
            PartialTranscript.objects.update_or_create(
                job_id=job_pk, defaults={"segments": new_segments, "kept_segments": kept_segments,
                                         "settled_before": settled})
        transaction.on_commit(lambda: live.job_progressed(job_pk))
    return True


def _after(moment: datetime | None) -> datetime:
    """A moment just after `moment` (each write's timestamp differs from the one before, so
    that it can serve as the next write's condition)."""
    return moment + timedelta(microseconds=1) if moment is not None else timezone.now()


def job_progress_restart_note(*, job_pk: int, reason: str) -> None:
    """The job goes back to the queue with progress made: say why it will start again."""
    Job.objects.filter(pk=job_pk, progress_seconds__gt=0).update(
        progress_note=f"Starting again from the beginning: {reason}"[:300])


def job_progress_clear(*, job_pk: int) -> None:
    """The job has its outcome, or starts over at a person's request: no progress, and the
    partial transcript goes (the machine transcript, if any, replaces it)."""
    Job.objects.filter(pk=job_pk).update(
        progress_stage="", progress_seconds=None, progress_at=None, progress_since=None,
        progress_since_seconds=None, progress_kept_seconds=None, progress_note="")
    PartialTranscript.objects.filter(job_id=job_pk).delete()
