"""ASGI pieces the project wires together in webapp/asgi.py: the upload size limit,
enforced before Django stores a byte, and the lifespan that runs the background workers
inside the web process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from django.conf import settings

from .workers import default_workers, run_workers

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 5.0


class UploadLimit:
    """Refuse a request body over UPLOAD_MAX_BYTES with 413: at once when Content-Length
    says so, or as soon as a streamed body crosses the limit."""

    def __init__(self, app, *, slack: int = 1024 * 1024):
        self.app = app
        self.slack = slack  # room for the multipart envelope and the form fields

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.UPLOAD_MAX_BYTES + self.slack
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _too_large(send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send) -> None:
    body = json.dumps({"error": "the file is larger than the upload limit of "
                                f"{settings.UPLOAD_MAX_BYTES / 1024**2:.0f} MB"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class WorkersLifespan:
    """Runs the background workers inside the web process (uvicorn's lifespan), when
    WORKERS_IN_WEB is on: they share the process's channel layer, so live updates work with
    the in-memory layer, no Redis needed. Otherwise `manage.py work` runs them.

    On shutdown (Ctrl-C) every worker is asked to stop after its current step; a step still
    running after a short grace (a long transcription) is left to finish in its thread, and
    its job is taken again once its lease runs out if the process ends first."""

    def __init__(self, *, grace_seconds: float = SHUTDOWN_GRACE_SECONDS):
        self.grace_seconds = grace_seconds
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:  # a second Ctrl-C: the server leaves without a shutdown
                self.stop.set()
                if self.task is not None:
                    self.task.cancel()
                return
            if message["type"] == "lifespan.startup":
                if settings.WORKERS_IN_WEB:
                    self.task = asyncio.create_task(run_workers(default_workers(), self.stop))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop_workers()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _stop_workers(self) -> None:
        self.stop.set()
        if self.task is None:
            return
        done, _ = await asyncio.wait([self.task], timeout=self.grace_seconds)
        if not done:
            log.info("workers: a step is still running; leaving it to finish")
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        elif self.task.exception() is not None:
            log.error("workers ended with an error", exc_info=self.task.exception())
