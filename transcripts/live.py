"""Live updates: what the pages hear over their websocket. One channel-layer group per
person; a message carries the job's summary, as the page shows it. A live update is a
courtesy: a failure to send one is logged and never fails the write that caused it.

Progress is sent at most once every PROGRESS_INTERVAL_SECONDS per job (a transcription can
report several times a second); a report that comes sooner is not sent. The newest state
still reaches the pages: by the next report, by the outcome's own message, and by the
pages, which ask where their running jobs stand now and then."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Job
from .selectors import job_summary

log = logging.getLogger(__name__)


def user_group(user_pk: int) -> str:
    return f"user-{user_pk}"


def job_changed(job: Job) -> None:
    """Tell the owner's pages where the job stands now."""
    _send(user_group(job.owner_id), {"type": "job.update", "job": job_summary(job)})


def job_changed_on_commit(job_pk: int) -> None:
    """Once the transaction commits, tell the owner's pages where the job stands then."""
    def send() -> None:
        job = Job.objects.filter(pk=job_pk).first()
        if job is not None:
            job_changed(job)
    transaction.on_commit(send)


PROGRESS_INTERVAL_SECONDS = 1.0
_last_progress: dict[int, float] = {}  # job pk → when its last progress message went out
_progress_lock = threading.Lock()
_monotonic = time.monotonic  # the throttle's clock (tests move it)


def job_progressed(job_pk: int) -> None:
    """The job's progress changed: tell the owner's pages, unless it was told less than
    PROGRESS_INTERVAL_SECONDS ago (in this process)."""
    now = _monotonic()
    with _progress_lock:
        if now - _last_progress.get(job_pk, -PROGRESS_INTERVAL_SECONDS) < PROGRESS_INTERVAL_SECONDS:
            return
        if len(_last_progress) > 10_000:  # jobs long finished
            for pk, at in list(_last_progress.items()):
                if now - at > 60:
                    del _last_progress[pk]
        _last_progress[job_pk] = now
    job = Job.objects.filter(pk=job_pk).first()
    if job is not None:
        job_changed(job)


def job_deleted_on_commit(*, owner_pk: int, public_id: UUID) -> None:
    transaction.on_commit(lambda: _send(user_group(owner_pk),
                                        {"type": "job.deleted", "public_id": str(public_id)}))


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a live update is a courtesy: never fail the write for it
        log.exception("could not broadcast to %s", group)
