"""Live job updates over a websocket: one group per person; a job page may follow one job."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .models import Job
from .services import user_group

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_FOUND = 4404


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
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass  # the page only listens

    async def job_update(self, event):
        if not self.only_job or event["job"]["public_id"] == str(self.only_job):
            await self.send_json({"type": "job", "job": event["job"]})

    async def job_deleted(self, event):
        if not self.only_job or event["public_id"] == str(self.only_job):
            await self.send_json({"type": "deleted", "public_id": event["public_id"]})

    @database_sync_to_async
    def _owns(self, user, public_id) -> bool:
        return Job.objects.filter(owner=user, public_id=public_id).exists()
