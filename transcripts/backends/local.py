"""The local gateway: on one machine the jobs table is the queue. Submitting only wakes the
dispatcher worker (transcripts.workers.dispatcher), which carries the job to the model server
through model_server.py and records its outcome."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from .gateway import JobRequest, Receipt

log = logging.getLogger(__name__)
DISPATCHER_GROUP = "dispatcher"  # the channel-layer group dispatchers listen on for wake-ups


class LocalGateway:
    workers: tuple[str, ...] = ("dispatcher",)

    def submit(self, request: JobRequest) -> Receipt | None:
        """The job is already queued in the database; wake a dispatcher to take it now."""
        layer = get_channel_layer()
        if layer is not None:
            try:
                async_to_sync(layer.group_send)(DISPATCHER_GROUP, {"type": "wake"})
            except Exception:  # the dispatcher also polls: a lost wake-up only delays
                log.exception("could not wake the dispatcher")
        return None

    def capacity(self) -> dict[str, Any]:
        return {"backend": "local", "available": True, "workers": settings.DISPATCHER_CONCURRENCY,
                "model_server": settings.MODEL_CONTAINER_URL}
