"""The AWS outcome sync: reads the DynamoDB items of the jobs still waiting on SageMaker, in
batches, and records the terminal ones; now and then it settles jobs whose notification was
lost, from what S3 holds at the locations SageMaker gave when the job was submitted."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .. import services
from ..backends import get_backend
from ..backends.aws import AwsGateway, RemoteOutcome, storage_name
from ..models import Job, Status
from ..services import Outcome

log = logging.getLogger(__name__)
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
        """Record the outcomes DynamoDB holds for waiting jobs. Returns how many jobs changed.
        An outcome that cannot be read now (its result object is missing) is left for the
        next round and for the reconciler; the others are recorded."""
        waiting = dict(Job.objects.filter(status__in=WAITING).values_list("public_id", "pk"))
        settled = 0
        for remote in self.gateway.terminal_outcomes(list(waiting)):
            try:
                outcome = self._outcome(remote)
            except OSError as exc:
                log.warning("outcome of job %s not recorded yet: %s", remote.public_id, exc)
                continue
            settled += services.job_record_outcome(job_pk=waiting[remote.public_id], outcome=outcome)
        return settled

    def _outcome(self, remote: RemoteOutcome) -> Outcome:
        if remote.status == Status.COMPLETED:
            return Outcome.completed(result=self.gateway.result(remote.output_location),
                                     output_name=storage_name(remote.output_location))
        reason = self.gateway.failure_reason(remote.failure_location, remote.failure_reason, remote.status)
        return Outcome(remote.status, failure_reason=reason)

    def reconcile(self) -> int:
        """Jobs submitted longer ago than SageMaker could possibly take (request TTL plus
        invocation timeout, plus a grace period) are settled from what S3 holds."""
        deadline = timezone.now() - timedelta(seconds=settings.SAGEMAKER_REQUEST_TTL_SECONDS
                                              + settings.INVOCATION_TIMEOUT_SECONDS
                                              + RECONCILE_GRACE_SECONDS)
        settled = 0
        for job in Job.objects.filter(status__in=WAITING, submitted_at__lt=deadline):
            settled += services.job_record_outcome(job_pk=job.pk, outcome=self._settle(job))
        return settled

    def _settle(self, job: Job) -> Outcome:
        if self.gateway.is_stored(job.remote_output):
            try:
                return Outcome.completed(result=self.gateway.result(job.remote_output),
                                         output_name=storage_name(job.remote_output))
            except OSError as exc:
                return Outcome.failed(f"the transcript SageMaker stored could not be read ({exc})")
        if self.gateway.is_stored(job.remote_failure):
            return Outcome.failed(self.gateway.failure_reason(job.remote_failure, "", Status.FAILED))
        return Outcome.expired("SageMaker never reported an outcome for this job; please retry it")
