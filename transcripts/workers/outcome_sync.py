"""The AWS outcome sync: reads the DynamoDB items of the jobs still waiting on SageMaker, in
batches, and records the terminal ones, and the progress the container wrote into the
others (through the same service as the local dispatcher's reports); now and then it
settles jobs whose notification was lost, from what S3 holds at the locations SageMaker
gave when the job was submitted.

One job's trouble never holds up the others: an outcome that cannot be recorded (its result
object missing or unreadable) is counted against its job and tried again next round; after
settings.OUTCOME_READ_TRIES rounds the job fails with the reason."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from .. import services
from ..backends import get_backend
from ..backends.aws import AwsGateway, RemoteOutcome, storage_name
from ..models import Job, Status
from ..services import Outcome

log = logging.getLogger(__name__)
# After the request TTL and the invocation timeout, SageMaker can no longer be working on a
# job: one with neither an output nor a failure object by then expires.
RECONCILE_GRACE_SECONDS = 600
WAITING = (Status.SUBMITTED, Status.PROCESSING)


class OutcomeSync:
    def __init__(self, gateway: AwsGateway | None = None):
        backend = gateway or get_backend()
        if not isinstance(backend, AwsGateway):
            raise ValueError("the outcome sync serves TRANSCRIBE_BACKEND=aws")
        self.gateway = backend
        self._last_reconcile = 0.0

    def step(self) -> int:
        """Collect outcomes; now and then settle jobs whose notice was lost. Returns how
        many jobs were settled."""
        settled = self.sync_outcomes()
        if time.monotonic() - self._last_reconcile > settings.RECONCILE_EVERY_SECONDS:
            self._last_reconcile = time.monotonic()
            settled += self.reconcile()
        return settled

    def sync_outcomes(self) -> int:
        """Record the outcomes DynamoDB holds for waiting jobs, and the progress of the others.
        Returns how many jobs were settled (progress is no reason to step again at once)."""
        waiting = dict(Job.objects.filter(status__in=WAITING).values_list("public_id", "pk"))
        outcomes, progress = self.gateway.poll(list(waiting))
        for running in progress:
            try:
                services.job_record_progress(job_pk=waiting[running.public_id], report=running.report)
            except DatabaseError:
                raise
            except Exception:  # progress is a courtesy: never hold up the outcomes for it
                log.exception("progress of job %s not recorded", waiting[running.public_id])
        settled = 0
        for remote in outcomes:
            job_pk = waiting[remote.public_id]
            try:
                settled += services.job_record_outcome(job_pk=job_pk, outcome=self._outcome(remote))
            except DatabaseError:
                raise  # the database, not this job: the loop tries the whole step again
            except Exception as exc:
                settled += self._failed_try(job_pk, exc)
        return settled

    def _outcome(self, remote: RemoteOutcome) -> Outcome:
        if remote.status == Status.COMPLETED:
            return Outcome.completed(result=self.gateway.result(remote.output_location),
                                     output_name=storage_name(remote.output_location))
        reason = self.gateway.failure_reason(remote.failure_location, remote.failure_reason, remote.status)
        return Outcome(remote.status, failure_reason=reason)

    def _failed_try(self, job_pk: int, exc: Exception) -> int:
        """Count a round in which the job's outcome could not be recorded; fail the job once
        it has had its tries. Returns 1 when the job was settled."""
        tries = services.job_count_outcome_try(job_pk=job_pk)
        if tries < settings.OUTCOME_READ_TRIES:
            log.warning("outcome of job %s not recorded (try %d of %d): %s", job_pk, tries,
                        settings.OUTCOME_READ_TRIES, exc)
            return 0
        log.error("job %s failed: its outcome could not be recorded in %d tries: %s",
                  job_pk, tries, exc)
        return int(services.job_record_outcome(job_pk=job_pk, outcome=Outcome.failed(
            f"the transcription finished, but its result could not be read ({exc})")))

    def reconcile(self) -> int:
        """Jobs waiting longer than settings.RECONCILE_AFTER_SECONDS are settled from the
        output or failure object SageMaker named at submission; a job with neither expires
        once SageMaker could no longer be working on it (request TTL plus invocation
        timeout, plus a grace period)."""
        now = timezone.now()
        look_before = now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
        expire_before = now - timedelta(seconds=settings.SAGEMAKER_REQUEST_TTL_SECONDS
                                        + settings.INVOCATION_TIMEOUT_SECONDS
                                        + RECONCILE_GRACE_SECONDS)
        settled = 0
        for job in Job.objects.filter(status__in=WAITING, submitted_at__lt=look_before):
            try:
                outcome = self._settle(job, expire=job.submitted_at is not None
                                       and job.submitted_at < expire_before)
                if outcome is not None:
                    settled += services.job_record_outcome(job_pk=job.pk, outcome=outcome)
            except DatabaseError:
                raise
            except Exception as exc:
                settled += self._failed_try(job.pk, exc)
        return settled

    def _settle(self, job: Job, *, expire: bool) -> Outcome | None:
        """The job's outcome from S3; None while there is none and SageMaker may still answer."""
        if self.gateway.is_stored(job.remote_output):
            return Outcome.completed(result=self.gateway.result(job.remote_output),
                                     output_name=storage_name(job.remote_output))
        if self.gateway.is_stored(job.remote_failure):
            return Outcome.failed(self.gateway.failure_reason(job.remote_failure, "", Status.FAILED))
        if expire:
            return Outcome.expired("SageMaker never reported an outcome for this job; please retry it")
        return None
