"""Lambda entry point: SNS (SageMaker async success and error topics) → DynamoDB.

Every record of the event is handled (SNS may batch several). A malformed message is logged
and skipped; a DynamoDB error propagates so that Lambda retries the event, which is safe
because every write is forward-only."""

from __future__ import annotations

import json
import logging
import os

import boto3
from outcome_store import Malformed, notifications, parse_notification, record_outcome

log = logging.getLogger()
log.setLevel(logging.INFO)
_table = None


def table():
    global _table
    if _table is None:  # created once per container, after the environment is read
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE_NAME"])
    return _table


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
            outcome = parse_notification(message)
        except Malformed as exc:
            _log("malformed_message", message_id=message_id, reason=str(exc))
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
    return counts


def _log(event: str, **fields) -> None:
    log.info(json.dumps({"event": event, **fields}))
