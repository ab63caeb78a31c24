"""Live updates: what the pages hear over their websocket. One channel-layer group per
person; a message carries the job's summary, as the page shows it. A live update is a
courtesy: a failure to send one is logged and never fails the write that caused it."""

from __future__ import annotations

import logging
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
