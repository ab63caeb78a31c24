"""Live job updates over a websocket: one group per person; a job page may follow one job.

A page is rendered before its socket joins the group, so a change in between would be missed
(a short clip can finish in a tenth of a second). On every (re)connect, and now and then
while its jobs run, the page sends `{"type": "sync", "jobs": [ids it shows]}` and hears each
job's current state back.

A job page (/ws/jobs/<id>/) also hears the partial transcript of its running job:
`{"type": "partial", "public_id", "from": i, "segments": [...]}` means "the segments from
index i on are now these". Each connection remembers what it sent, so a message carries only
what changed (a new connection starts from index 0)."""

from __future__ import annotations

import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .live import user_group
from .models import Job
from .selectors import job_summary, partial_segments

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_FOUND = 4404
MAX_SYNC_JOBS = 200  # more than a dashboard page shows


class JobsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        self.only_job = self.scope["url_route"]["kwargs"].get("public_id")
        if self.only_job and not await self._owns(user, self.only_job):
            await self.close(code=CLOSE_NOT_FOUND)  # another person's job does not exist
            return
        self.sent_partial: list[dict] = []  # the partial transcript this page has
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "sync":
            return  # the page only listens, apart from asking where its jobs stand
        wanted = _job_ids(content.get("jobs"))
        if self.only_job:
            wanted = [i for i in wanted if i == self.only_job]
        current = await self._summaries(self.scope["user"], wanted)
        for public_id in wanted:
            summary = current.get(str(public_id))
            if summary is None:  # deleted meanwhile (or never theirs: the same answer)
                await self.send_json({"type": "deleted", "public_id": str(public_id)})
            else:
                await self.send_json({"type": "job", "job": summary})
                if self.only_job:
                    await self._send_partial(summary)

    async def job_update(self, event):
        if not self.only_job or event["job"]["public_id"] == str(self.only_job):
            await self.send_json({"type": "job", "job": event["job"]})
            if self.only_job:
                await self._send_partial(event["job"])

    async def _send_partial(self, summary: dict) -> None:
        """What changed in the running job's partial transcript since this page last heard."""
        if summary["progress"] is None:  # it has its outcome: the page shows the result
            return
        segments = await self._partial(self.scope["user"], self.only_job) or []
        same = 0
        for old, new in zip(self.sent_partial, segments, strict=False):
            if old != new:
                break
            same += 1
        if same == len(segments) == len(self.sent_partial):
            return
        self.sent_partial = segments
        await self.send_json({"type": "partial", "public_id": summary["public_id"], "from": same,
                              "segments": segments[same:]})

    async def job_deleted(self, event):
        if not self.only_job or event["public_id"] == str(self.only_job):
            await self.send_json({"type": "deleted", "public_id": event["public_id"]})

    @database_sync_to_async
    def _summaries(self, user, public_ids: list[uuid.UUID]) -> dict[str, dict]:
        jobs = Job.objects.filter(owner=user, public_id__in=public_ids)
        return {str(job.public_id): job_summary(job) for job in jobs}

    @database_sync_to_async
    def _partial(self, user, public_id) -> list[dict] | None:
        job = Job.objects.filter(owner=user, public_id=public_id).only("pk").first()
        return partial_segments(job) if job is not None else None

    @database_sync_to_async
    def _owns(self, user, public_id) -> bool:
        return Job.objects.filter(owner=user, public_id=public_id).exists()


def _job_ids(value) -> list[uuid.UUID]:
    """The valid job ids in a sync request, at most MAX_SYNC_JOBS, others ignored."""
    ids = []
    for item in value if isinstance(value, list) else []:
        try:
            ids.append(uuid.UUID(str(item)))
        except ValueError:
            continue
        if len(ids) == MAX_SYNC_JOBS:
            break
    return ids
