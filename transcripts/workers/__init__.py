"""Background work, each worker a loop of steps (loop.py):

- dispatcher: local backend; takes queued jobs to the model server (dispatcher.py);
- outcome_sync: AWS backend; records the outcomes the results Lambda wrote (outcome_sync.py);
- webhook_delivery: both backends; POSTs people's webhook events (webhook_delivery.py).

They run inside the web process (`make run`, DISPATCHER_IN_WEB) or as `manage.py work`.
Every worker is safe to run in several processes at once: work is claimed with a
conditional UPDATE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from ..backends import get_backend
from .dispatcher import Dispatcher
from .loop import Loop
from .outcome_sync import OutcomeSync
from .webhook_delivery import POLL_SECONDS as WEBHOOK_POLL_SECONDS
from .webhook_delivery import step as webhook_delivery_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    step: Callable[[], int]  # one unit of work, synchronously; > 0 when it found work
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]  # steps until the event is set


def _dispatcher() -> Worker:
    dispatcher = Dispatcher()
    return Worker(dispatcher.step, dispatcher.run)


def _outcome_sync() -> Worker:
    sync = OutcomeSync()
    return Worker(sync.step, Loop("outcome_sync", sync.step, settings.OUTCOME_POLL_SECONDS).run)


def _webhook_delivery() -> Worker:
    return Worker(webhook_delivery_step,
                  Loop("webhook_delivery", webhook_delivery_step, WEBHOOK_POLL_SECONDS).run)


WORKERS: dict[str, Callable[[], Worker]] = {
    "dispatcher": _dispatcher,
    "outcome_sync": _outcome_sync,
    "webhook_delivery": _webhook_delivery,
}


def default_workers() -> tuple[str, ...]:
    """What this installation needs: its backend's workers and the webhook deliveries."""
    return (*get_backend().workers, "webhook_delivery")


def steps(names: tuple[str, ...]) -> dict[str, Callable[[], int]]:
    """One step function per named worker, for work done in the foreground."""
    return {name: WORKERS[name]().step for name in names}


async def run_workers(names: tuple[str, ...], stop: asyncio.Event) -> None:
    """Run the named workers until `stop` is set; each ends after its current step."""
    workers = [WORKERS[name]() for name in names]
    log.info("workers: %s", ", ".join(names))
    await asyncio.gather(*(worker.run(stop) for worker in workers))
