"""The one loop every background worker runs: a step that says whether it found work; more
work at once when it did, otherwise a pause (the idle poll, ended early by a wake-up); stop
when asked, after the current step. A step that raises is logged and tried again after a
short pause: one bad item, or a database that is briefly locked, never stops a worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import close_old_connections

log = logging.getLogger(__name__)
# After a step that raised: soon, since the wake-up for a new job may have been spent on it.
STEP_RETRY_SECONDS = 1.0


@dataclass
class Loop:
    name: str
    step: Callable[[], int]  # synchronous, in a thread of its own; > 0: it found work
    idle_seconds: float
    wake: asyncio.Event | None = None  # set by whoever knows of new work

    async def run(self, stop: asyncio.Event) -> None:
        step = sync_to_async(self._step_with_fresh_connections, thread_sensitive=False)
        while not stop.is_set():
            try:
                pause = 0.0 if await step() else self.idle_seconds
            except Exception:
                log.exception("%s: a step failed; trying again shortly", self.name)
                pause = min(STEP_RETRY_SECONDS, self.idle_seconds)
            if pause > 0:
                await self._pause(pause, stop)

    def _step_with_fresh_connections(self) -> int:
        # The thread may hold a connection the database has closed since its last step.
        close_old_connections()
        try:
            return self.step()
        finally:
            close_old_connections()

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait())]
        if self.wake is not None:
            waits.append(asyncio.ensure_future(self.wake.wait()))
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
        if self.wake is not None:
            self.wake.clear()
