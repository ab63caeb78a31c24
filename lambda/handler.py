"""Lambda entry point: SNS (SageMaker async success and error topics) → DynamoDB.

Every record of the event is handled (SNS may batch several). A malformed record or
message, or one that points outside this stack's bucket prefixes, is logged and skipped; a
DynamoDB error propagates so that Lambda retries the event, which is safe because every
write is forward-only.

Each failure recorded for the first time is counted as a CloudWatch metric in the embedded
metric format (a JSON line on stdout: no API call, no permission), by cause: `server`
(what an operator must look at), `input` (the model server refused the person's file) and
`expired`. The stack's alarm watches only `server`; SageMaker's TestNotification is no
failure at all."""

from __future__ import annotations

import json
import logging
import os
import time

import boto3
from outcome_store import Locations, Malformed, Outcome, notifications, parse_notification, record_outcome

log = logging.getLogger()
log.setLevel(logging.INFO)
METRICS_NAMESPACE = "WhisperTranscription"
FAILURES_METRIC = "FailedTranscriptions"
_table = None
_locations: Locations | None = None


def table():
    global _table
    if _table is None:  # created once per container, after the environment is read
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE_NAME"])
    return _table


def locations() -> Locations:
    global _locations
    if _locations is None:
        _locations = Locations.from_env()
    return _locations


def handler(event, context):
    counts = {"recorded": 0, "duplicate": 0, "ignored": 0, "malformed": 0}
    try:
        messages = list(notifications(event))
    except Malformed as exc:
        _log("malformed_event", reason=str(exc))
        counts["malformed"] += 1
        return counts
    for message_id, message in messages:
        try:
            if isinstance(message, Malformed):
                raise message
            outcome = parse_notification(message, locations=locations())
        except Malformed as exc:
            _log("malformed_message", message_id=message_id, reason=str(exc),
                 kind=type(exc).__name__)
            counts["malformed"] += 1
            continue
        if outcome is None:
            _log("test_notification_ignored", message_id=message_id)
            counts["ignored"] += 1
            continue
        written = record_outcome(table(), outcome)
        counts["recorded" if written else "duplicate"] += 1
        _log("outcome_recorded" if written else "outcome_duplicate", message_id=message_id,
             job_id=outcome.job_id, status=outcome.status)
        if written and outcome.failure_cause:
            _count_failure(outcome)
    return counts


def _count_failure(outcome: Outcome) -> None:
    stack = os.environ.get("STACK_NAME", "")
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": METRICS_NAMESPACE, "Dimensions": [["Stack", "Cause"]],
            "Metrics": [{"Name": FAILURES_METRIC, "Unit": "Count"}]}]},
        "Stack": stack, "Cause": outcome.failure_cause, FAILURES_METRIC: 1,
        "job_id": outcome.job_id}), flush=True)


def _log(event: str, **fields) -> None:
    log.info(json.dumps({"event": event, **fields}))
