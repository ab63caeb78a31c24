"""`manage.py work [WORKER...] [--once]`: the background workers as their own process (with
DISPATCHER_IN_WEB=false on the web process, and REDIS_URL so that live updates reach it).
Without names: the workers this installation needs (its backend's, and webhook delivery).
SIGINT or SIGTERM stops each worker after its current step."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transcripts.workers import WORKERS, default_workers, run_workers, steps


class Command(BaseCommand):
    help = "Run the background workers: dispatcher, outcome_sync, webhook_delivery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workers", nargs="*", metavar="WORKER",
                            help=f"any of {', '.join(WORKERS)} (default: what the backend needs)")
        parser.add_argument("--once", action="store_true",
                            help="do the work that is due now, then exit (e.g. from cron)")

    def handle(self, *args: Any, workers: list[str], once: bool, **options: Any) -> None:
        unknown = [name for name in workers if name not in WORKERS]
        if unknown:
            raise CommandError(f"no worker {', '.join(unknown)}; the workers are {', '.join(WORKERS)}")
        names = tuple(workers) or default_workers()
        try:
            if once:
                for name, step in steps(names).items():
                    done = 0
                    while found := step():
                        done += found
                    self.stdout.write(f"{name}: {done} done")
                return
            asyncio.run(self._run(names))
        except ValueError as exc:  # a worker that does not serve this backend
            raise CommandError(str(exc)) from None

    async def _run(self, names: tuple[str, ...]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        self.stdout.write(f"Running {', '.join(names)}; Ctrl-C stops after the current step.")
        await run_workers(names, stop)
