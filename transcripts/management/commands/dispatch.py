"""Run the local dispatcher as its own process. Only useful with REDIS_URL set (so that its
live updates reach the web process) and DISPATCHER_IN_WEB=false on the web process."""

import asyncio

from django.core.management.base import BaseCommand

from transcripts.backends.local import Dispatcher


class Command(BaseCommand):
    help = "Send queued jobs to the model server and record their outcomes."

    def handle(self, *args, **options):
        try:
            asyncio.run(Dispatcher().run())
        except KeyboardInterrupt:
            pass
