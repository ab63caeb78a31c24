"""Deliver webhook events as their own process (with DISPATCHER_IN_WEB=false on the web
process, which otherwise delivers them itself), or once, e.g. from cron."""

import asyncio

from django.core.management.base import BaseCommand

from transcripts.webhooks import deliver_due, due_count, run_deliveries


class Command(BaseCommand):
    help = "POST due webhook events to their receivers, with retries (docs/webhooks.md)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="attempt the deliveries that are due now, then exit")

    def handle(self, *args, **options):
        if options["once"]:
            attempted = deliver_due(limit=due_count())
            self.stdout.write(f"{attempted} delivery attempt(s)")
            return
        try:
            asyncio.run(run_deliveries())
        except KeyboardInterrupt:
            pass
