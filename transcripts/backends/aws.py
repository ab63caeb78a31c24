"""The AWS backend: the audio is already in S3 (django-storages); a job item is written to
DynamoDB, then SageMaker's asynchronous endpoint is invoked with the job's id. SageMaker's
notification reaches DynamoDB through SNS and the results Lambda; this backend reads the
outcomes back in batches and records them through the same service as the local backend.
Only the backends package (this module and capacity.py) imports boto3."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from urllib.parse import urlparse

import boto3
from asgiref.sync import sync_to_async
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections
from django.utils import timezone

from .. import services
from ..models import Job, Status
from .invocation import custom_attributes, error_message

log = logging.getLogger(__name__)
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem maximum
RECONCILE_GRACE_SECONDS = 600
TERMINAL_ITEM_STATES = ("completed", "failed", "expired")


class AwsBackend:
    def __init__(self):
        self.region = settings.AWS_REGION
        self._last_reconcile = 0.0

    # ------------------------------------------------------------------ clients
    # Created on use, so that test doubles of AWS (moto) are in place first.

    def table(self):
        return boto3.resource("dynamodb", region_name=self.region).Table(settings.JOBS_TABLE_NAME)

    def runtime(self):
        return boto3.client("sagemaker-runtime", region_name=self.region)

    # ------------------------------------------------------------------ submit

    def submit(self, job: Job) -> None:
        """Create the job item first (so an outcome always has a place to land), then invoke."""
        job_id = str(job.public_id)
        now = timezone.now()
        try:
            self.table().put_item(Item={
                "job_id": job_id, "status": "submitted", "rank": 1,
                "created_at": _iso(now), "updated_at": _iso(now),
                "expires_at": int(time.time()) + settings.JOB_ITEM_TTL_DAYS * 24 * 3600})
            response = self.runtime().invoke_endpoint_async(
                EndpointName=settings.SAGEMAKER_ENDPOINT_NAME,
                InputLocation=f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/{job.audio.name}",
                InferenceId=job_id,
                ContentType="application/octet-stream",
                Accept="application/json",
                CustomAttributes=custom_attributes(job.options),
                RequestTTLSeconds=settings.SAGEMAKER_REQUEST_TTL_SECONDS,
                InvocationTimeoutSeconds=settings.INVOCATION_TIMEOUT_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            log.exception("could not submit job %s", job_id)
            services.job_record_outcome(public_id=job.public_id, status=Status.FAILED,
                                        failure_reason=f"could not hand the job to SageMaker ({exc})")
            return
        services.job_mark_submitted(job_id=job.pk, remote_output=response.get("OutputLocation", ""),
                                    remote_failure=response.get("FailureLocation", ""))

    # ------------------------------------------------------------------ outcomes

    def step(self) -> bool:
        """Collect outcomes from DynamoDB; now and then settle jobs whose notice was lost."""
        settled = self.sync_outcomes()
        if time.monotonic() - self._last_reconcile > settings.RECONCILE_EVERY_SECONDS:
            self._last_reconcile = time.monotonic()
            settled += self.reconcile()
        return settled > 0

    def sync_outcomes(self) -> int:
        """Read the items of every job still waiting on SageMaker, in batches, and record
        the terminal ones. Returns how many jobs changed."""
        waiting = list(Job.objects.filter(status__in=(Status.SUBMITTED, Status.PROCESSING))
                       .values_list("public_id", flat=True))
        settled = 0
        for start in range(0, len(waiting), BATCH_GET_LIMIT):
            for item in self._batch_get([str(i) for i in waiting[start: start + BATCH_GET_LIMIT]]):
                if item.get("status") in TERMINAL_ITEM_STATES:
                    settled += self._apply(item)
        return settled

    def _batch_get(self, job_ids: list[str]) -> list[dict]:
        dynamodb = boto3.resource("dynamodb", region_name=self.region)
        request = {settings.JOBS_TABLE_NAME: {"Keys": [{"job_id": i} for i in job_ids]}}
        items = []
        for attempt in range(5):
            response = dynamodb.batch_get_item(RequestItems=request)
            items.extend(response["Responses"].get(settings.JOBS_TABLE_NAME, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.1 * 2 ** attempt)  # throttled: back off, then ask for the rest
        return items

    def _apply(self, item: dict) -> int:
        status = item["status"]
        if status == "completed":
            return int(services.job_record_outcome(
                public_id=item["job_id"], status=Status.COMPLETED,
                output_name=_key(item.get("output_location", ""))))
        return int(services.job_record_outcome(
            public_id=item["job_id"], status=status,
            failure_reason=self.failure_reason(item.get("failure_location", ""),
                                               item.get("failure_reason", ""), status)))

    def failure_reason(self, failure_location: str, reported: str, status: str) -> str:
        """The model server's own message when SageMaker saved its error body, else the
        message quoted in SageMaker's failureReason, else that text as it is."""
        body = None
        if failure_location:
            try:
                with default_storage.open(_key(failure_location)) as stored:
                    body = stored.read(64 * 1024)
            except (OSError, ClientError, BotoCoreError):
                log.warning("could not read %s", failure_location)
        fallback = reported or ("the request waited too long and expired before a model server took it"
                                if status == "expired" else "the transcription failed")
        return error_message(body, error_message(reported, fallback))

    # ------------------------------------------------------------------ lost notifications

    def reconcile(self) -> int:
        """Jobs submitted longer ago than SageMaker could possibly take (request TTL plus
        invocation timeout, plus a grace period) are settled from what S3 holds."""
        deadline = timezone.now() - timedelta(seconds=settings.SAGEMAKER_REQUEST_TTL_SECONDS
                                              + settings.INVOCATION_TIMEOUT_SECONDS
                                              + RECONCILE_GRACE_SECONDS)
        settled = 0
        for job in Job.objects.filter(status__in=(Status.SUBMITTED, Status.PROCESSING),
                                      submitted_at__lt=deadline):
            settled += self.settle_from_storage(job)
        return settled

    def settle_from_storage(self, job: Job) -> int:
        if job.remote_output and default_storage.exists(_key(job.remote_output)):
            return int(services.job_record_outcome(public_id=job.public_id, status=Status.COMPLETED,
                                                   output_name=_key(job.remote_output)))
        if job.remote_failure and default_storage.exists(_key(job.remote_failure)):
            reason = self.failure_reason(job.remote_failure, "", Status.FAILED)
            return int(services.job_record_outcome(public_id=job.public_id, status=Status.FAILED,
                                                   failure_reason=reason))
        return int(services.job_record_outcome(
            public_id=job.public_id, status=Status.EXPIRED,
            failure_reason="SageMaker never reported an outcome for this job; please retry it"))

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        log.info("aws backend: collecting outcomes from %s every %.1f s", settings.JOBS_TABLE_NAME,
                 settings.OUTCOME_POLL_SECONDS)
        step = sync_to_async(self._step, thread_sensitive=False)
        while True:
            await step()
            await asyncio.sleep(settings.OUTCOME_POLL_SECONDS)

    def _step(self) -> bool:
        close_old_connections()
        try:
            return self.step()
        except Exception:  # AWS hiccups must not stop the loop
            log.exception("outcome sync failed")
            return False
        finally:
            close_old_connections()


def _key(location: str) -> str:
    """s3://bucket/outputs/x.out → outputs/x.out (a storage name in our bucket)."""
    return urlparse(location).path.lstrip("/") if location.startswith("s3://") else location


def _iso(moment: datetime) -> str:
    return moment.astimezone(dt_timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def download_s3_object(uri: str, target) -> str:
    """Stream s3://bucket/key into the open binary file `target`; returns the key's base name."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"'{uri}' is not an s3://bucket/key URI")
    key = parsed.path.lstrip("/")
    try:
        boto3.client("s3", region_name=settings.AWS_REGION).download_fileobj(parsed.netloc, key, target)
    except (ClientError, BotoCoreError) as exc:
        raise ValueError(f"could not read {uri}: {exc}") from None
    return key.rsplit("/", 1)[-1]
