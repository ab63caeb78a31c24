"""The local dispatcher: plays SageMaker's asynchronous role on one machine. It claims the
oldest queued job (a conditional UPDATE and a lease it renews while the model server works),
sends it to the model server, stores the result, and records the outcome. New jobs wake it
over the channel layer; it also polls, so a job queued while nobody listened is found."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from .. import services
from ..backends.local import DISPATCHER_GROUP
from ..backends.model_server import Interrupted, ModelServer, Refused, ServerError, Unauthorized, Unreachable
from ..models import Job
from ..progress import WAITING_FOR_MODEL, ProgressReport
from ..services import Outcome
from .loop import Loop

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # model-server failures (5xx, crashes) before a job fails for good
RETRY_FACTORS = (1, 6, 24)  # back-off before the next try, in DISPATCHER_RETRY_SECONDS
UNREACHABLE_DELAY = 5  # the model server is down: jobs wait, none fails for that


class Dispatcher:
    def __init__(self, *, container_url: str | None = None, concurrency: int | None = None):
        self.model_server = ModelServer(container_url or settings.MODEL_CONTAINER_URL,
                                        timeout_seconds=settings.INVOCATION_TIMEOUT_SECONDS,
                                        token=settings.MODEL_SERVER_TOKEN)
        self.concurrency = concurrency or settings.DISPATCHER_CONCURRENCY
        self.lease_seconds = settings.DISPATCHER_LEASE_SECONDS
        self.listening = asyncio.Event()  # set once wake-ups can reach the running loops
        self._stop: asyncio.Event | None = None  # the running loops' stop signal

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # ------------------------------------------------------------------ one job

    def step(self) -> bool:
        """Claim one job and carry it to an outcome (or back to the queue). False when idle."""
        job = services.job_claim_next(lease_seconds=self.lease_seconds)
        if job is None:
            return False
        if job.attempts > MAX_ATTEMPTS:  # every earlier try ended with the dispatcher itself
            services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed(
                f"the dispatcher stopped while working on this job (gave up after "
                f"{job.attempts - 1} attempts)"))
            return True
        with _LeaseKeeper(job.pk, self.lease_seconds):
            try:
                self._run(job)
            except Exception as exc:  # counts as an attempt, so a job that breaks us ends
                log.exception("dispatcher failed on job %s", job.pk)
                self._retry_later(job, f"the dispatcher failed on this job ({type(exc).__name__}: {exc})",
                                  counts=True)
        return True

    def _run(self, job: Job) -> None:
        self._progress(job, ProgressReport.stage_only(WAITING_FOR_MODEL))
        try:
            with job.audio.open("rb") as audio:
                result = self.model_server.invoke(audio, job.options,
                                                  on_progress=lambda report: self._progress(job, report))
        except FileNotFoundError:
            services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed(
                "the uploaded file is missing from storage"))
        except Unauthorized as exc:  # the operator's to fix (MODEL_SERVER_TOKEN): jobs wait
            log.warning("%s", exc)
            self._retry_later(job, str(exc), counts=False)
        except Unreachable as exc:  # down or restarting: wait, this is not the job's fault
            self._retry_later(job, str(exc), counts=False)
        except Interrupted as exc:  # a poison file must not loop forever; our own shutdown is no fault
            self._retry_later(job, str(exc), counts=not self.stopping)
        except Refused as exc:
            services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed(str(exc)))
        except ServerError as exc:
            self._retry_later(job, str(exc), counts=True)
        else:
            name = services.job_store_output(job=job, result=result)
            services.job_record_outcome(job_pk=job.pk,
                                        outcome=Outcome.completed(result=result, output_name=name))

    @staticmethod
    def _progress(job: Job, report: ProgressReport) -> None:
        """Record a report of this run; progress is a courtesy that never stops the job."""
        try:
            services.job_record_progress(job_pk=job.pk, report=report, run=job.run)
        except Exception:
            log.exception("progress of job %s not recorded", job.pk)

    def _retry_later(self, job: Job, reason: str, *, counts: bool) -> None:
        if counts and job.attempts >= MAX_ATTEMPTS:
            services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed(
                f"{reason} (gave up after {job.attempts} attempts)"))
            return
        factor = RETRY_FACTORS[min(job.attempts, len(RETRY_FACTORS)) - 1]
        delay = factor * settings.DISPATCHER_RETRY_SECONDS if counts else UNREACHABLE_DELAY
        services.job_requeue(job_pk=job.pk, delay_seconds=delay, reason=reason, count_attempt=counts)

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """`concurrency` loops share one wake-up, set when a job is submitted."""
        self._stop = stop
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(wake))
        loops = [Loop(f"dispatcher-{n}", self.step, settings.DISPATCHER_POLL_SECONDS, wake)
                 for n in range(self.concurrency)]
        log.info("dispatcher: %d worker(s) sending jobs to %s", self.concurrency, self.model_server.url)
        try:
            await asyncio.gather(*(loop.run(stop) for loop in loops))
        finally:
            listener.cancel()

    async def _listen(self, wake: asyncio.Event) -> None:
        layer = get_channel_layer()
        if layer is None:
            self.listening.set()  # nothing to listen to: the poll finds the jobs
            return
        channel = await layer.new_channel()
        await layer.group_add(DISPATCHER_GROUP, channel)
        self.listening.set()
        message: Any
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "wake":
                wake.set()


class _LeaseKeeper:
    """Renews the job's lease while its transcription runs, so only a dispatcher that died
    lets the job be claimed again."""

    def __init__(self, job_pk: int, lease_seconds: int):
        self.job_pk = job_pk
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            services.job_renew_lease(job_pk=self.job_pk, lease_seconds=self.lease_seconds)
        close_old_connections()
