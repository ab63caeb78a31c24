"""The local backend plays SageMaker's asynchronous role on one machine: a durable queue in
the database, a concurrency limit, the same /invocations request the AWS backend makes,
the output JSON written to storage, and the outcome recorded through the same service."""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import cached_property

import requests
from urllib3.exceptions import NewConnectionError
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from .. import services
from ..models import Job
from .invocation import CUSTOM_ATTRIBUTES_HEADER, custom_attributes, error_message

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # model-server failures (5xx, crashes) before a job fails for good
RETRY_FACTORS = (1, 6, 24)  # back-off before the next try, in DISPATCHER_RETRY_SECONDS
UNREACHABLE_DELAY = 5  # the model server is down: jobs wait, none fails for that
STEP_RETRY_SECONDS = 1  # after a step that raised


class LocalBackend:
    def submit(self, job: Job) -> None:
        """The job is already queued in the database; wake a dispatcher to take it now."""
        layer = get_channel_layer()
        if layer is not None:
            try:
                async_to_sync(layer.group_send)(services.DISPATCHER_GROUP, {"type": "wake"})
            except Exception:  # the dispatcher also polls: a lost wake-up only delays
                log.exception("could not wake the dispatcher")

    def step(self) -> bool:
        return self.dispatcher.process_next()

    async def run(self) -> None:
        await self.dispatcher.run()

    @cached_property
    def dispatcher(self) -> "Dispatcher":
        # One dispatcher, so its HTTP session (and keep-alive connection) is reused.
        return Dispatcher()


class Dispatcher:
    """Takes queued jobs one at a time per worker and runs them through the model server."""

    def __init__(self, *, container_url: str | None = None, concurrency: int | None = None):
        self.container_url = container_url or settings.MODEL_CONTAINER_URL
        self.concurrency = concurrency or settings.DISPATCHER_CONCURRENCY
        self.lease_seconds = settings.DISPATCHER_LEASE_SECONDS
        self.session = requests.Session()
        self.listening = asyncio.Event()  # set once wake-ups can reach the running loop

    # ------------------------------------------------------------------ one job, synchronously

    def process_next(self) -> bool:
        """Claim one job and carry it to an outcome (or back to the queue). False when idle."""
        job = services.job_claim_next(lease_seconds=self.lease_seconds)
        if job is None:
            return False
        with _LeaseKeeper(job.pk, self.lease_seconds):
            self._run(job)
        return True

    def _run(self, job: Job) -> None:
        try:
            with job.audio.open("rb") as audio:
                response = self.session.post(
                    f"{self.container_url}/invocations", data=audio,
                    headers={"Content-Type": "application/octet-stream",
                             CUSTOM_ATTRIBUTES_HEADER: custom_attributes(job.options)},
                    timeout=(5, settings.INVOCATION_TIMEOUT_SECONDS))
        except FileNotFoundError:
            services.job_record_outcome(public_id=job.public_id, status="failed",
                                        failure_reason="the uploaded file is missing from storage")
            return
        except requests.RequestException as exc:
            if _never_reached(exc):  # down or restarting: wait, this is not the job's fault
                self._retry_later(job, f"the model server is unreachable ({type(exc).__name__})",
                                  counts=False)
            else:  # it took the job and then died or hung: a poison file must not loop forever
                self._retry_later(job, f"the model server stopped while transcribing ({type(exc).__name__})",
                                  counts=True)
            return
        if response.status_code == 200:
            result = response.json()
            name = services.job_store_output(job=job, result=result)
            services.job_record_outcome(public_id=job.public_id, status="completed",
                                        output_name=name, result=result)
        elif 400 <= response.status_code < 500:
            services.job_record_outcome(public_id=job.public_id, status="failed",
                                        failure_reason=_error_message(response))
        else:
            self._retry_later(job, f"the model server failed: {_error_message(response)}", counts=True)

    def _retry_later(self, job: Job, reason: str, *, counts: bool) -> None:
        if counts and job.attempts >= MAX_ATTEMPTS:
            services.job_record_outcome(
                public_id=job.public_id, status="failed",
                failure_reason=f"{reason} (gave up after {job.attempts} attempts)")
            return
        factor = RETRY_FACTORS[min(job.attempts, len(RETRY_FACTORS)) - 1]
        delay = factor * settings.DISPATCHER_RETRY_SECONDS if counts else UNREACHABLE_DELAY
        services.job_requeue(job_id=job.pk, delay_seconds=delay, reason=reason, count_attempt=counts)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Workers take jobs as soon as they are submitted (a wake-up over the channel layer)
        and poll as a fallback, so a job queued while nobody listened is still found."""
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(wake))
        workers = [asyncio.create_task(self._work(wake)) for _ in range(self.concurrency)]
        log.info("dispatcher: %d worker(s) sending jobs to %s", self.concurrency, self.container_url)
        try:
            await asyncio.gather(listener, *workers)
        finally:
            for task in (listener, *workers):
                task.cancel()

    async def _listen(self, wake: asyncio.Event) -> None:
        layer = get_channel_layer()
        if layer is None:
            self.listening.set()  # nothing to listen to: the poll finds the jobs
            return
        channel = await layer.new_channel()
        await layer.group_add(services.DISPATCHER_GROUP, channel)
        self.listening.set()
        while True:
            await layer.receive(channel)
            wake.set()

    async def _work(self, wake: asyncio.Event) -> None:
        step = sync_to_async(self._step, thread_sensitive=False)
        while True:
            try:
                if await step():
                    continue
                pause = settings.DISPATCHER_POLL_SECONDS
            except Exception:  # one bad step must not stop the dispatcher
                log.exception("dispatcher step failed")
                # Often passing (a database briefly locked): try again soon rather than after
                # a whole poll interval, in case the wake-up for a new job was spent on it.
                pause = min(STEP_RETRY_SECONDS, settings.DISPATCHER_POLL_SECONDS)
            try:
                await asyncio.wait_for(wake.wait(), timeout=pause)
            except asyncio.TimeoutError:
                pass
            wake.clear()

    def _step(self) -> bool:
        close_old_connections()
        try:
            return self.process_next()
        finally:
            close_old_connections()


class _LeaseKeeper:
    """Renews the job's lease while its transcription runs, so only a dispatcher that died
    lets the job be claimed again."""

    def __init__(self, job_id: int, lease_seconds: int):
        self.job_id = job_id
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            services.job_renew_lease(job_id=self.job_id, lease_seconds=self.lease_seconds)
        close_old_connections()


def _never_reached(exc: requests.RequestException) -> bool:
    """True when the request never got to the model server (connection refused, or no
    connection in time), as opposed to a connection that broke while it worked."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen, todo = set(), [exc]
    while todo:  # requests wraps urllib3's MaxRetryError, whose .reason is the real error
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError):
            return True
        todo += [cause.__cause__, cause.__context__, getattr(cause, "reason", None),
                 *(a for a in cause.args if isinstance(a, BaseException))]
    return False


def _error_message(response: requests.Response) -> str:
    return error_message(response.content, f"HTTP {response.status_code} from the model server")
