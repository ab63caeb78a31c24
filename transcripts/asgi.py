"""ASGI pieces the project wires together in webapp/asgi.py: the upload size limit,
enforced before Django stores a byte, and the lifespan that runs the local dispatcher and
the webhook deliveries inside the web process."""

from __future__ import annotations

import asyncio
import json
import logging

from django.conf import settings

log = logging.getLogger(__name__)


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


class DispatcherLifespan:
    """Starts the background loops with the server (uvicorn's lifespan): the backend's (the
    local dispatcher, or the AWS outcome sync) and the webhook deliveries. The dispatcher
    shares the process's channel layer, so live updates work with the in-memory layer, no
    Redis needed. With DISPATCHER_IN_WEB=false, `manage.py dispatch` and
    `manage.py deliver_webhooks` run them instead."""

    def __init__(self):
        self.task: asyncio.Task | None = None
        self.deliveries: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.DISPATCHER_IN_WEB:
                    from .backends import get_backend
                    from .webhooks import run_deliveries

                    self.task = asyncio.create_task(get_backend().run())
                    self.deliveries = asyncio.create_task(run_deliveries())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self.task, self.deliveries):
                    if task:
                        task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
