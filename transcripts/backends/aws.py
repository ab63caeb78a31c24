"""The AWS gateway: the audio is already in S3 (django-storages); a job item is written to
DynamoDB, then SageMaker's asynchronous endpoint is invoked with the job's public id.
SageMaker's notification reaches DynamoDB through SNS and the results Lambda; the outcome
sync worker (transcripts.workers.outcome_sync) reads the items back through this gateway."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from django.conf import settings
from django.core.files.storage import default_storage

from ..models import RANK, TERMINAL, Status
from ..progress import BadReport, ProgressReport
from .gateway import JobRequest, Receipt, SubmitFailed
from .invocation import custom_attributes, error_message

log = logging.getLogger(__name__)
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem maximum
BACKLOG_METRIC = "ApproximateBacklogSize"  # requests queued in the endpoint, all instances
BACKLOG_WINDOW = timedelta(minutes=15)  # SageMaker publishes it each minute while it has data
# An admin page waits on these calls: fail fast instead of botocore's default retries.
CAPACITY_CLIENT_CONFIG = {"connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 2}}
MAX_ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class RemoteOutcome:
    """A terminal job item as the results Lambda wrote it."""

    public_id: UUID
    status: Status
    output_location: str = ""
    failure_location: str = ""
    failure_reason: str = ""


@dataclass(frozen=True)
class RemoteProgress:
    """Where a job stands, as the container wrote it into the job's item."""

    public_id: UUID
    report: ProgressReport


class AwsGateway:
    workers: tuple[str, ...] = ("outcome_sync",)

    def __init__(self) -> None:
        self.region = settings.AWS_REGION

    # ------------------------------------------------------------------ clients
    # Created on use, so that test doubles of AWS (moto) are in place first.

    def table(self) -> Any:
        return boto3.resource("dynamodb", region_name=self.region).Table(settings.JOBS_TABLE_NAME)

    def runtime(self) -> Any:
        return boto3.client("sagemaker-runtime", region_name=self.region)

    # ------------------------------------------------------------------ submit

    def submit(self, request: JobRequest) -> Receipt:
        """Create the job item first (so an outcome always has a place to land), then invoke."""
        public_id = str(request.public_id)
        now = datetime.now(UTC)
        try:
            self.table().put_item(Item={
                "job_id": public_id, "status": Status.SUBMITTED.value, "rank": RANK[Status.SUBMITTED],
                "created_at": _iso(now), "updated_at": _iso(now),
                "expires_at": int(time.time()) + settings.JOB_ITEM_TTL_DAYS * 24 * 3600})
            response = self.runtime().invoke_endpoint_async(
                EndpointName=settings.SAGEMAKER_ENDPOINT_NAME,
                InputLocation=f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/{request.audio_name}",
                InferenceId=public_id,
                ContentType="application/octet-stream",
                Accept="application/json",
                # job_id: the container reports progress into this job's item.
                CustomAttributes=custom_attributes(request.options, job_id=public_id),
                RequestTTLSeconds=settings.SAGEMAKER_REQUEST_TTL_SECONDS,
                InvocationTimeoutSeconds=settings.INVOCATION_TIMEOUT_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            log.exception("could not submit job %s", public_id)
            raise SubmitFailed(f"could not hand the job to SageMaker ({exc})") from exc
        return Receipt(output_location=response.get("OutputLocation", ""),
                       failure_location=response.get("FailureLocation", ""))

    # ------------------------------------------------------------------ outcomes

    def poll(self, public_ids: list[UUID]) -> tuple[list[RemoteOutcome], list[RemoteProgress]]:
        """The items of these jobs, read in batches: the outcomes of those that hold a
        terminal state, and the progress the container wrote into the others."""
        outcomes, progress = [], []
        for start in range(0, len(public_ids), BATCH_GET_LIMIT):
            for item in self._batch_get([str(i) for i in public_ids[start: start + BATCH_GET_LIMIT]]):
                if item.get("status") in TERMINAL:
                    outcomes.append(RemoteOutcome(
                        public_id=UUID(item["job_id"]), status=Status(item["status"]),
                        output_location=item.get("output_location", ""),
                        failure_location=item.get("failure_location", ""),
                        failure_reason=item.get("failure_reason", "")))
                elif (report := _progress_report(item)) is not None:
                    progress.append(RemoteProgress(public_id=UUID(item["job_id"]), report=report))
        return outcomes, progress

    def terminal_outcomes(self, public_ids: list[UUID]) -> list[RemoteOutcome]:
        """The jobs among these whose items hold a terminal state."""
        return self.poll(public_ids)[0]

    def _batch_get(self, public_ids: list[str]) -> list[dict[str, Any]]:
        dynamodb = boto3.resource("dynamodb", region_name=self.region)
        request = {settings.JOBS_TABLE_NAME: {"Keys": [{"job_id": i} for i in public_ids]}}
        items: list[dict[str, Any]] = []
        for attempt in range(5):
            response = dynamodb.batch_get_item(RequestItems=request)
            items.extend(response["Responses"].get(settings.JOBS_TABLE_NAME, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.1 * 2 ** attempt)  # throttled: back off, then ask for the rest
        return items

    def result(self, output_location: str) -> dict[str, Any]:
        """The model's result JSON that SageMaker stored (OSError when it cannot be read)."""
        try:
            with default_storage.open(storage_name(output_location)) as stored:
                result: dict[str, Any] = json.load(stored)
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise OSError(f"could not read {output_location}: {exc}") from exc
        return result

    def is_stored(self, location: str) -> bool:
        return bool(location) and default_storage.exists(storage_name(location))

    def failure_reason(self, failure_location: str, reported: str, status: Status) -> str:
        """The model server's own message when SageMaker saved its error body, else the
        message quoted in SageMaker's failureReason, else that text as it is."""
        body = None
        if failure_location:
            try:
                with default_storage.open(storage_name(failure_location)) as stored:
                    body = stored.read(MAX_ERROR_BODY_BYTES)
            except (OSError, ClientError, BotoCoreError):
                log.warning("could not read %s", failure_location)
        fallback = reported or ("the request waited too long and expired before a model server took it"
                                if status == Status.EXPIRED else "the transcription failed")
        return error_message(body, error_message(reported, fallback))

    # ------------------------------------------------------------------ capacity

    def capacity(self) -> dict[str, Any]:
        """The endpoint's instance count (describe_endpoint) and its queue of waiting
        requests (CloudWatch's ApproximateBacklogSize). Every AWS failure (no credentials,
        no network, no permission, no such endpoint) becomes {"available": False, "reason"}."""
        name = settings.SAGEMAKER_ENDPOINT_NAME
        info = {"backend": "aws", "endpoint": name, "region": self.region}
        try:
            config = Config(**CAPACITY_CLIENT_CONFIG)
            endpoint = boto3.client("sagemaker", region_name=self.region,
                                    config=config).describe_endpoint(EndpointName=name)
            variants = endpoint.get("ProductionVariants") or []
            backlog, backlog_at = _backlog(boto3.client("cloudwatch", region_name=self.region,
                                                        config=config), name)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not read the capacity of endpoint %s: %s", name, exc)
            return {**info, "available": False, "reason": _reason(exc)}
        except Exception as exc:  # a monitoring page shows the problem rather than failing on it
            log.exception("unexpected error reading the capacity of endpoint %s", name)
            return {**info, "available": False, "reason": f"unexpected error: {exc}"}
        return {
            **info, "available": True,
            "status": endpoint.get("EndpointStatus", ""),
            "instances": sum(v.get("CurrentInstanceCount") or 0 for v in variants),
            "desired_instances": sum(v.get("DesiredInstanceCount") or 0 for v in variants),
            "variants": [{"name": v.get("VariantName", ""),
                          "instances": v.get("CurrentInstanceCount") or 0,
                          "desired_instances": v.get("DesiredInstanceCount") or 0} for v in variants],
            "backlog": backlog, "backlog_at": backlog_at,
        }


def _backlog(cloudwatch: Any, endpoint_name: str) -> tuple[float | None, datetime | None]:
    """The newest ApproximateBacklogSize datapoint, or (None, None) when there is none."""
    now = datetime.now(UTC)
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=BACKLOG_METRIC,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint_name}],
        # The window reaches a minute ahead so that the current, partial minute is included.
        StartTime=now - BACKLOG_WINDOW, EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Maximum"])
    points = sorted(response.get("Datapoints") or [], key=lambda p: p["Timestamp"])
    if not points:
        return None, None
    return points[-1].get("Maximum"), points[-1]["Timestamp"]


def _reason(exc: Exception) -> str:
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials are configured for the web app"
    if isinstance(exc, EndpointConnectionError):
        return f"AWS could not be reached ({exc})"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS said {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _progress_report(item: dict[str, Any]) -> ProgressReport | None:
    """The item's `progress` map and `partial_segments` (contracts/container/progress) as a
    snapshot report; None when it has none, or none that makes sense (logged)."""
    progress = item.get("progress")
    if not isinstance(progress, dict):
        return None
    segments = None
    if isinstance(item.get("partial_segments"), str):  # left out once too large to write
        try:
            segments = json.loads(item["partial_segments"])
        except ValueError:
            log.warning("job %s: partial_segments in its item is not JSON", item.get("job_id"))
    try:
        return ProgressReport.snapshot(stage=str(progress.get("stage") or ""),
                                       seconds_done=_plain(progress.get("seconds_done", 0)),
                                       duration=_plain(progress.get("duration")),
                                       segments=segments,
                                       settled_before=_plain(progress.get("settled_before")))
    except BadReport as exc:
        log.warning("job %s: progress in its item skipped: %s", item.get("job_id"), exc)
        return None


def _plain(value: Any) -> Any:
    """DynamoDB's numbers come back as Decimal."""
    return float(value) if isinstance(value, Decimal) else value


def storage_name(location: str) -> str:
    """s3://bucket/outputs/x.out → outputs/x.out (a storage name in our bucket)."""
    return urlparse(location).path.lstrip("/") if location.startswith("s3://") else location


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
