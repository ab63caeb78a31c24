"""What the transcription backend can take on right now, for the admin's capacity page.

AWS backend: the SageMaker endpoint's instance count (describe_endpoint) and its queue of
waiting requests (CloudWatch's ApproximateBacklogSize). Local backend: the dispatcher's
worker count. The page must render whatever AWS says, so every AWS failure (no
credentials, no network, no permission, no such endpoint) becomes
{"available": False, "reason": ...}, never an exception. Like aws.py, this is backend code:
boto3 stays inside backends/."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings

log = logging.getLogger(__name__)
BACKLOG_METRIC = "ApproximateBacklogSize"  # requests queued in the endpoint, all instances
BACKLOG_WINDOW = timedelta(minutes=15)  # SageMaker publishes it each minute while it has data
# An admin page waits on these calls: fail fast instead of botocore's default retries.
CLIENT_CONFIG = {"connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 2}}


def endpoint_capacity() -> dict:
    if settings.TRANSCRIBE_BACKEND != "aws":
        return {"backend": "local", "available": True,
                "workers": settings.DISPATCHER_CONCURRENCY,
                "model_server": settings.MODEL_CONTAINER_URL}
    name = settings.SAGEMAKER_ENDPOINT_NAME
    info = {"backend": "aws", "endpoint": name, "region": settings.AWS_REGION}
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a dependency of the aws backend
        return {**info, "available": False, "reason": "boto3 is not installed"}
    try:
        config = Config(**CLIENT_CONFIG)
        endpoint = boto3.client("sagemaker", region_name=settings.AWS_REGION,
                                config=config).describe_endpoint(EndpointName=name)
        variants = endpoint.get("ProductionVariants") or []
        backlog, backlog_at = _backlog(boto3.client("cloudwatch", region_name=settings.AWS_REGION,
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


def _backlog(cloudwatch, endpoint_name: str) -> tuple[float | None, datetime | None]:
    """The newest ApproximateBacklogSize datapoint, or (None, None) when there is none."""
    now = datetime.now(dt_timezone.utc)
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
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials are configured for the web app"
    if isinstance(exc, EndpointConnectionError):
        return f"AWS could not be reached ({exc})"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS said {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)
