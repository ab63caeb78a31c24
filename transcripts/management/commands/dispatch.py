"""Run the backend's background loop (the local dispatcher, or the AWS outcome sync) as its
own process. Use it with REDIS_URL set (so that live updates reach the web process) and
DISPATCHER_IN_WEB=false on the web process."""

import asyncio

from django.core.management.base import BaseCommand

from transcripts.backends import get_backend


class Command(BaseCommand):
    help = "Send queued jobs to the model server and record their outcomes."

    def handle(self, *args, **options):
        try:
            asyncio.run(get_backend().run())
        except KeyboardInterrupt:
            pass
